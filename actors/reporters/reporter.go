// Package reporters owns the reporters under status: one actor per
// configured reporter (`reporters:`, Buildbot's reporter services), named
// reporter:NAME, spawned and reconfigured by the status service (Group).
//
// The reports themselves are in the state: AddBuild and FinishBuild queue
// the reports a build's start and end are due in the outbox, in the same
// apply as the start or end (internal/state, outbox.go), so no report is
// lost to a restart or a kill -9. A reporter drains its outbox oldest first,
// one report at a time, so that a target sees the reports of a commit in
// order: it reads the report from the state (build.go: the changes'
// authors get their address from the users table's email attribute; for a
// mail reporter, the failing step gets its log's last lines, logtail.go,
// read in the send's goroutine), sends it through its client
// (internal/report/setup) in a goroutine bounded by the send timeout, so a
// hanging target holds nothing but this reporter; then it
// tells db ReportsDone when the report was delivered, is not for this
// target (report.ErrSkipped), or is given up (a permanent failure, or still
// failing past its lifetime: dropped, with an error in the log). A
// retryable failure waits as the retry policy says (exponential backoff,
// never sooner than the target's Retry-After or rate-limit reset) and tries
// the same report again. Delivery is at least once: a master killed between
// a delivery and its ReportsDone sends that report again after its restart
// (statuses are idempotent).
//
// A reporter accepts its *messages.ReporterConfig (a changed config, taken
// in place) and its own messages. Its state (messages.ReporterState) is on
// its tree node and read by States; its counts are on /metrics
// (service.Stats' reports metrics).
package reporters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/report/setup"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// kind is the reporters' kind in the tree.
const kind = "reporter"

// Group is the status service's group of reporters.
func Group() service.Group {
	return &service.NamedGroup[*messages.ReporterConfig]{
		Kind: kind, Prefix: paths.ReporterPrefix,
		List: (*messages.MasterConfig).GetReporters,
		Name: (*messages.ReporterConfig).GetName,
		// A reporter whose type changes is replaced: stopped (its send in
		// flight cancelled), then spawned anew on the same outbox.
		Class: (*messages.ReporterConfig).GetType,
		New: func(rt *service.Runtime, cell *service.Cell[*messages.ReporterConfig]) actor.Actor {
			return &reporter{rt: rt, cell: cell}
		},
	}
}

// The reporter's own messages.
type (
	// changed: the outbox changed.
	changed struct{ gen int }
	// retry: the wait after a failure is over.
	retry struct{ gen int }
	// sent: a send ended.
	sent struct {
		gen   int
		entry *messages.OutboxEntry
		err   error
	}
	// flush: submit the reports done again, after db failed.
	flush struct{}
)

type reporter struct {
	rt     *service.Runtime
	cell   *service.Cell[*messages.ReporterConfig]
	cfg    *messages.ReporterConfig
	sender report.Sender
	policy report.RetryPolicy
	st     *messages.ReporterState
	log    *slog.Logger

	// gen counts configs: a send or timer of an older gen is stale.
	gen int
	// ctx ends when the reporter stops or takes a new config; it bounds
	// sends and ends the watcher and timers.
	ctx    context.Context
	cancel context.CancelFunc
	// head is the report being sent, or waiting to be tried again;
	// attempts is how often it failed.
	head     *messages.OutboxEntry
	attempts int
	// cursor is the id of the last report finished (delivered, skipped or
	// dropped): the next is the first after it. Finished reports leave the
	// outbox in batches (done, then one ReportsDone in flight at a time,
	// marking); while any has not left, ids only grow, so the cursor holds;
	// once all have, it goes back to the start of the outbox.
	cursor  uint64
	done    []*messages.OutboxEntry
	marking bool
	// watching: a goroutine waits for the outbox to change.
	watching bool
	// droppedSeen is the outbox's dropped count last logged.
	droppedSeen uint64
}

// Receive implements actor.Actor.
func (r *reporter) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.st = &messages.ReporterState{}
		r.configure(ctx, r.cell.Load())
		if row := state.ReporterRow(r.rt.DB.Read(), r.cfg.GetName()); row != nil {
			r.droppedSeen = row.Dropped
		}
		r.next(ctx)
	case *messages.ReporterConfig:
		r.configure(ctx, m)
		r.next(ctx)
	case *actor.Stopping, *actor.Restarting:
		if r.cancel != nil {
			r.cancel()
		}
	case changed:
		if m.gen == r.gen {
			r.watching = false
			r.next(ctx)
		}
	case retry:
		if m.gen == r.gen && r.head != nil {
			r.send(ctx, r.head)
		}
	case sent:
		if m.gen == r.gen {
			r.sent(ctx, m.entry, m.err)
		}
	case flush:
		r.flush(ctx)
	}
}

// configure takes cfg: a new client and policy, and a new gen (a send in
// flight is cancelled, and its report tried again with the new client).
func (r *reporter) configure(ctx actor.Context, cfg *messages.ReporterConfig) {
	if r.cancel != nil {
		r.cancel()
	}
	r.gen++
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.head, r.attempts, r.watching = nil, 0, false
	r.cfg, r.policy = cfg, setup.Policy(cfg)
	r.log = r.rt.Log.With(slog.String("reporter", cfg.GetName()), slog.String("type", cfg.GetType()))
	r.st.Name, r.st.Type = cfg.GetName(), cfg.GetType()
	var err error
	r.sender, err = setup.NewSender(cfg, setup.Options{Title: r.rt.Config().GetTitle()})
	if err != nil {
		r.sender = nil
		r.failed(fmt.Errorf("cannot start: %w", err))
		r.log.Error("reporter cannot start; its reports wait in the outbox", slog.String("error", r.st.LastError))
	}
	r.publish(ctx)
}

// next sends the first report after the cursor, or waits for one.
func (r *reporter) next(ctx actor.Context) {
	if r.head != nil || r.sender == nil {
		r.publish(ctx)
		return
	}
	txn := r.rt.DB.Read()
	r.counts(txn)
	if !r.marking && len(r.done) == 0 {
		r.cursor = 0
	}
	var e *messages.OutboxEntry
	for e = range state.Outbox(txn, r.cfg.GetName(), r.cursor) {
		break
	}
	if e == nil {
		r.watch(ctx, state.OutboxWatch(txn, r.cfg.GetName()))
		r.publish(ctx)
		return
	}
	r.head, r.attempts = e, 0
	r.send(ctx, e)
}

// send sends e, the head, in a goroutine bounded by the send timeout.
func (r *reporter) send(ctx actor.Context, e *messages.OutboxEntry) {
	txn, www := r.rt.DB.Read(), r.wwwURL()
	rep, ok := readReport(txn, e, www)
	if !ok {
		r.log.Warn("dropping a report whose build or worker is gone", slog.Uint64("buildid", e.Buildid),
			slog.Uint64("workerid", e.GetWorker().GetWorkerid()), slog.String("event", e.Event))
		r.finish(ctx, e)
		return
	}
	self, gen, sender, root, log, logs := ctx.Self(), r.gen, r.sender, r.rt.System.Root, r.log, r.rt.Logs
	withLogs := r.cfg.GetType() == "mail" && rep.Build != nil
	sendCtx, cancel := context.WithTimeout(r.ctx, setup.Timeout(r.cfg))
	go func() {
		defer cancel()
		if withLogs {
			// Reading the log is the storage's work, not the actor's.
			if err := addLogTail(sendCtx, txn, logs, rep, www); err != nil {
				log.Warn("the mail goes without the log's last lines", slog.Any("error", err))
			}
		}
		err := sender.Send(sendCtx, rep)
		root.Send(self, sent{gen: gen, entry: e, err: err})
	}()
}

// watch wakes the reporter when ch is closed (the outbox changed).
func (r *reporter) watch(ctx actor.Context, ch <-chan struct{}) {
	if r.watching {
		return
	}
	r.watching = true
	self, gen, done, root := ctx.Self(), r.gen, r.ctx.Done(), r.rt.System.Root
	go func() {
		select {
		case <-ch:
			root.Send(self, changed{gen: gen})
		case <-done:
		}
	}()
}

// sent takes the end of a send of e.
func (r *reporter) sent(ctx actor.Context, e *messages.OutboxEntry, err error) {
	now := time.Now()
	switch {
	case err == nil:
		r.st.Sent++
		r.st.LastSuccess = timestamppb.New(now)
		r.st.RetryAt = nil
		r.rt.Stats.ReportsSent.WithLabelValues(r.cfg.GetName()).Inc()
		r.finish(ctx, e)
		return
	case errors.Is(err, report.ErrSkipped):
		r.log.Info("report not for this target", slog.Uint64("buildid", e.Buildid), slog.String("event", e.Event), slog.Any("reason", err))
		r.finish(ctx, e)
		return
	}
	r.attempts++
	d := r.policy.Next(err, r.attempts, time.Unix(e.CreatedAt, 0), now)
	r.failed(err)
	if !d.Retry {
		r.st.RetryAt = nil
		r.rt.Stats.ReportsFailed.WithLabelValues(r.cfg.GetName(), "dropped").Inc()
		r.log.Error("dropping a report", slog.Uint64("buildid", e.Buildid), slog.String("event", e.Event),
			slog.String("reason", d.Reason))
		r.finish(ctx, e)
		return
	}
	r.rt.Stats.ReportsFailed.WithLabelValues(r.cfg.GetName(), "retry").Inc()
	r.st.RetryAt = timestamppb.New(d.At)
	r.log.Warn("report failed; trying again", slog.Uint64("buildid", e.Buildid), slog.String("event", e.Event),
		slog.Int("attempts", r.attempts), slog.Time("at", d.At), slog.Any("error", err))
	self, gen, done, root := ctx.Self(), r.gen, r.ctx.Done(), r.rt.System.Root
	go func() {
		t := time.NewTimer(d.At.Sub(now))
		defer t.Stop()
		select {
		case <-t.C:
			root.Send(self, retry{gen: gen})
		case <-done:
		}
	}()
	r.publish(ctx)
}

// finish moves on from e, which leaves the outbox with the next batch.
func (r *reporter) finish(ctx actor.Context, e *messages.OutboxEntry) {
	r.head, r.attempts, r.cursor = nil, 0, e.Id
	r.done = append(r.done, e)
	r.flush(ctx)
	r.next(ctx)
}

// flush tells db the reports done, unless it is being told already.
func (r *reporter) flush(ctx actor.Context) {
	if r.marking || len(r.done) == 0 {
		return
	}
	batch := r.done[:min(len(r.done), state.MaxIDs)]
	r.done = r.done[len(batch):]
	r.marking = true
	cmd := &messages.Command{Kind: &messages.Command_ReportsDone{ReportsDone: &messages.ReportsDone{
		Reporter: r.cfg.GetName(), Reports: batch}}}
	db.Submit(ctx, cmd, func(_ *messages.CommandResult, err error) {
		r.marking = false
		if err != nil {
			// They stay in the outbox until told again.
			r.log.Error("cannot remove reports from the outbox", slog.Int("reports", len(batch)), slog.Any("error", err))
			r.done = slices.Concat(batch, r.done)
			self, root := ctx.Self(), r.rt.System.Root
			time.AfterFunc(time.Second, func() { root.Send(self, flush{}) })
			return
		}
		r.flush(ctx)
		r.next(ctx)
	})
}

// failed records err as the last error. Errors of the clients hold no
// secret (internal/report's SendError); the secrets the config uses are
// redacted all the same, as everything shown.
func (r *reporter) failed(err error) {
	r.st.Failed++
	r.st.LastError = r.rt.Redactor().Redact(err.Error())
	r.st.LastErrorAt = timestamppb.Now()
}

// counts reads the outbox's counts, and logs the reports the state refused
// since last time because the outbox was full.
func (r *reporter) counts(txn *memdb.Txn) {
	row := state.ReporterRow(txn, r.cfg.GetName())
	if row == nil {
		return
	}
	r.st.Pending, r.st.Dropped = row.Pending, row.Dropped
	if row.Dropped > r.droppedSeen {
		r.log.Error("the outbox was full: reports were dropped", slog.Uint64("dropped", row.Dropped-r.droppedSeen),
			slog.Uint64("outbox_cap", uint64(state.OutboxCap(row))))
	}
	r.droppedSeen = row.Dropped
}

// publish shows the reporter's state on its tree node.
func (r *reporter) publish(ctx actor.Context) {
	if n := service.NodeOf(ctx, r.rt); n != nil {
		n.SetState(proto.Clone(r.st))
	}
}

func (r *reporter) wwwURL() string {
	if r.rt.WWW == nil {
		return ""
	}
	return "http://" + r.rt.WWW.Addr().String()
}
