package db

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The janitor archives (Archive) the steps and logs of builds that finished
// more than ArchiveAfter ago, ArchiveBatch builds to a command (a segment),
// then (ArchiveBuildsets) the buildsets whose builds all did, none its
// builder's newest, ArchiveBatch buildsets to a command,
// at every run, and runs every ArchiveInterval (horizons.interval when it is
// shorter), horizons or not.
const (
	ArchiveAfter    = 10 * time.Minute
	ArchiveBatch    = 256
	ArchiveInterval = 10 * time.Minute
)

// DefaultSessionSweep is how often the janitor ends the expired web
// sessions, unless the Runtime says (SessionSweep).
const DefaultSessionSweep = 10 * time.Minute

// janitor is master/db/janitor (Buildbot's janitor configurator, as
// config): at every run it removes what the horizons let go
// (planExpiry), one small Expire at a time, each waiting for the one
// before, sized and spaced by a pacer so that builds are held up by one
// short write at most; then it removes the files of the logs that went,
// and archives finished builds (at least
// every ArchiveInterval, horizons or not). A CleanupRequest (`buildmaster
// cleanupdb`) runs it at once, also checks every archive segment (the
// first damage in its answer and logged), removes log files no log names
// (left by a crash between a write and a removal), and compacts the state. One run
// at a time; the work is done away from the mailbox, and stops between two
// writes when the master stops. On a timer of its own (Runtime.SessionSweep,
// DefaultSessionSweep), whatever the horizons, it ends the web sessions
// that have expired (an Expire of web_sessions_expired_at), so that logins
// need not look for them.
type janitor struct {
	rt    *service.Runtime
	gen   int // of the tick scheduled; older ticks are ignored
	timer *time.Timer
	// sweep is the timer of the next sweep of the expired web sessions.
	sweep   *time.Timer
	running context.CancelFunc // nil when no run is going on
	done    chan struct{}      // closed when the run ends
	// waiting are the senders of the CleanupRequests of the run going on
	// (cleanup) or of the next one (queued).
	waiting, queued []*actor.PID
	cleanup         bool // the run going on is a cleanup
	// logs is where the expiry of log contents got to by the end of the
	// last run (janitorDone).
	logs logHorizon
}

func newJanitor(rt *service.Runtime) *janitor { return &janitor{rt: rt} }

type (
	horizonsChanged struct{}
	janitorTick     struct{ gen int }
	sessionsTick    struct{}
	janitorDone     struct {
		res  *messages.CleanupResponse
		logs logHorizon
		err  error
	}
)

// Receive implements actor.Actor.
func (j *janitor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		j.schedule(ctx)
		j.scheduleSweep(ctx)
	case horizonsChanged:
		j.schedule(ctx)
	case sessionsTick:
		j.sweepSessions(ctx)
	case janitorTick:
		if m.gen == j.gen && j.running == nil {
			j.start(ctx, false)
		}
	case *messages.CleanupRequest:
		if !service.Authorized(ctx, j.rt, m.GetToken()) {
			return
		}
		j.queued = append(j.queued, ctx.Sender())
		if j.running == nil {
			j.start(ctx, true)
		}
	case janitorDone:
		j.finished(ctx, m)
	case *actor.Stopping, *actor.Restarting:
		if j.timer != nil {
			j.timer.Stop()
		}
		if j.sweep != nil {
			j.sweep.Stop()
		}
		if j.running != nil {
			j.running()
			<-j.done
		}
	}
}

// schedule sets the next periodic run, ArchiveInterval from now, or
// horizons.interval when the config has horizons and it is shorter.
func (j *janitor) schedule(ctx actor.Context) {
	j.gen++
	if j.timer != nil {
		j.timer.Stop()
	}
	every := ArchiveInterval
	if h := j.rt.Config().GetHorizons(); hasHorizons(h) {
		if d := h.GetInterval().AsDuration(); d > 0 {
			every = min(every, d)
		}
	}
	root, self, gen := ctx.ActorSystem().Root, ctx.Self(), j.gen
	j.timer = time.AfterFunc(every, func() { root.Send(self, janitorTick{gen: gen}) })
}

// scheduleSweep sets the next sweep of the expired web sessions.
func (j *janitor) scheduleSweep(ctx actor.Context) {
	every := j.rt.SessionSweep
	if every <= 0 {
		every = DefaultSessionSweep
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	j.sweep = time.AfterFunc(every, func() { root.Send(self, sessionsTick{}) })
}

// sweepSessions ends the web sessions expired now, when there is one (a
// read finds the one that expires soonest), then sets the next sweep.
func (j *janitor) sweepSessions(ctx actor.Context) {
	now := time.Now().Unix()
	soonest, _ := state.First(j.rt.DB.Read(), state.TableWebSessions, state.IndexExpires+"_prefix").(*messages.WebSession)
	if soonest == nil || soonest.ExpiresAt > now {
		j.scheduleSweep(ctx)
		return
	}
	Submit(ctx, messages.NewCommand(&messages.Expire{WebSessionsExpiredAt: now}), func(_ *messages.CommandResult, err error) {
		if err != nil {
			j.rt.Log.Error("janitor: ending the expired web sessions", slog.Any("error", err))
		}
		j.scheduleSweep(ctx)
	})
}

func hasHorizons(h *messages.HorizonsConfig) bool {
	return h.GetLogs().AsDuration() > 0 || h.GetBuilds().AsDuration() > 0 || h.GetBuildsPerBuilder() > 0 || h.GetChanges() > 0
}

// start starts a run (a cleanup for the queued requests) in a goroutine.
func (j *janitor) start(ctx actor.Context, cleanup bool) {
	runCtx, cancel := context.WithCancel(context.Background())
	j.running, j.done, j.cleanup = cancel, make(chan struct{}), cleanup
	if cleanup {
		j.waiting, j.queued = j.queued, nil
	}
	rt, root, self, done, logs := j.rt, ctx.ActorSystem().Root, ctx.Self(), j.done, j.logs
	h := rt.Config().GetHorizons()
	go func() {
		defer close(done)
		res, err := runJanitor(runCtx, rt, h, time.Now(), cleanup, &logs, newPacer(int(h.GetBatch())))
		root.Send(self, janitorDone{res: res, logs: logs, err: err})
	}()
}

// finished takes the end of a run: it answers the cleanup's senders, shows
// the result on the janitor's node, and starts the next run.
func (j *janitor) finished(ctx actor.Context, m janitorDone) {
	j.running, j.logs = nil, m.logs
	log := j.rt.Log.With(slog.Bool("cleanup", j.cleanup))
	if m.err != nil {
		log.Error("janitor: run failed", slog.Any("error", m.err))
	}
	if m.res.GetArchived() > 0 {
		log.Info("janitor: finished builds archived", slog.Int64("builds", m.res.Archived))
	}
	if m.res.GetArchivedBuildsets() > 0 {
		log.Info("janitor: finished buildsets archived", slog.Int64("buildsets", m.res.ArchivedBuildsets))
	}
	if m.res.GetArchivedChanges() > 0 {
		log.Info("janitor: changes archived", slog.Int64("changes", m.res.ArchivedChanges))
	}
	if d := m.res.GetArchiveDamage(); d != "" {
		log.Error("janitor: archive damaged (reads skip what does not decode)", slog.String("damage", d))
	}
	if m.err == nil && removed(m.res) {
		log.Info("janitor: history past the horizons removed", slog.Int64("builds", m.res.Builds),
			slog.Int64("changes", m.res.Changes), slog.Int64("logs", m.res.Logs), slog.Int64("log_bytes", m.res.LogBytes),
			slog.Duration("took", m.res.Took.AsDuration()))
	}
	if m.res != nil {
		if n := service.NodeOf(ctx, j.rt); n != nil {
			n.SetState(m.res)
		}
	}
	for _, to := range j.waiting {
		if m.err != nil {
			service.Send(ctx, to, failed("cleanupdb: "+m.err.Error()))
		} else {
			service.Send(ctx, to, m.res)
		}
	}
	j.waiting = nil
	if len(j.queued) > 0 {
		j.start(ctx, true)
		return
	}
	j.schedule(ctx)
}

func removed(r *messages.CleanupResponse) bool {
	return r != nil && r.Builds+r.Buildrequests+r.Buildsets+r.Changes+r.Sourcestamps+r.Logs+r.OrphanFiles > 0
}

// runJanitor removes what horizons h let go at now, the logs' contents from
// where logs got to (moved on once all is written), in writes paced by
// pace; a cleanup also checks every archive segment (CheckArchive),
// removes orphan log files and compacts the state.
func runJanitor(ctx context.Context, rt *service.Runtime, h *messages.HorizonsConfig, now time.Time, cleanup bool, logs *logHorizon, pace *pacer) (*messages.CleanupResponse, error) {
	start := time.Now()
	res := &messages.CleanupResponse{}
	plan, logsAfter := planExpiry(rt.DB.Read(), h, now, *logs)
	for cmd := plan.next(pace.next()); cmd != nil; cmd = plan.next(pace.next()) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		submitted := time.Now()
		out, err := rt.DB.SubmitWait(ctx, &messages.Command{Kind: &messages.Command_Expire{Expire: cmd}})
		if err != nil {
			return res, fmt.Errorf("janitor: %w", err)
		}
		took := time.Since(submitted)
		res.Builds += int64(len(cmd.Builds))
		res.Buildrequests += int64(len(cmd.Buildrequests))
		res.Buildsets += int64(len(cmd.Buildsets))
		res.Changes += int64(len(cmd.Changes))
		res.Sourcestamps += int64(len(cmd.Sourcestamps))
		n, bytes, err := removeLogFiles(ctx, rt, out.GetIds())
		res.Logs += n
		res.LogBytes += bytes
		if err != nil {
			rt.Log.Warn("janitor: removing log files", slog.Any("error", err))
		}
		if err := pace.took(ctx, took); err != nil {
			return res, err
		}
	}
	*logs = logsAfter
	if err := archiveBuilds(ctx, rt, now, res); err != nil {
		return res, err
	}
	if err := archiveBuildsets(ctx, rt, now, res); err != nil {
		return res, err
	}
	if err := archiveChanges(ctx, rt, now, res); err != nil {
		return res, err
	}
	if cleanup {
		if err := state.CheckArchive(rt.DB.Read()); err != nil {
			res.ArchiveDamage = err.Error()
		}
		n, bytes, err := sweepLogFiles(ctx, rt)
		res.OrphanFiles, res.LogBytes = n, res.LogBytes+bytes
		if err != nil {
			return res, err
		}
		before, after, err := rt.DB.Compact()
		res.RaftLogBytesBefore, res.RaftLogBytesAfter = before.Bytes, after.Bytes
		res.RaftLogEntriesBefore, res.RaftLogEntriesAfter = before.Entries, after.Entries
		if err != nil {
			return res, err
		}
	}
	res.Took = durationpb.New(time.Since(start))
	return res, nil
}

// archiveBuilds archives the builds that finished before now-ArchiveAfter,
// one Archive of ArchiveBatch builds at a time, counting them in res.
func archiveBuilds(ctx context.Context, rt *service.Runtime, now time.Time, res *messages.CleanupResponse) error {
	ids := state.ToArchive(rt.DB.Read(), now.Add(-ArchiveAfter).Unix())
	return archiveInBatches(ctx, rt, ids, ArchiveBatch, &res.Archived, "archive", func(ids []uint64) proto.Message {
		return &messages.Archive{Buildids: ids}
	})
}

// archiveInBatches submits cmd(batch) for ids, batch of them at a time,
// adding to *archived how many each command archived (the ids of its
// result); it stops at the first error (what names the command in it) or
// when ctx ends.
func archiveInBatches(ctx context.Context, rt *service.Runtime, ids []uint64, batch int, archived *int64, what string, cmd func([]uint64) proto.Message) error {
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(batch, len(ids))
		out, err := rt.DB.SubmitWait(ctx, messages.NewCommand(cmd(ids[:n])))
		if err != nil {
			return fmt.Errorf("janitor: %s: %w", what, err)
		}
		*archived += int64(len(out.GetIds()))
		ids = ids[n:]
	}
	return nil
}

// removeLogFiles removes logs ids from the log store in one Remove (small
// logs by one removal record, the others' files), returning how many had
// bytes there and their size; a log the store had nothing of is left out.
func removeLogFiles(ctx context.Context, rt *service.Runtime, ids []uint64) (int64, int64, error) {
	var there []uint64
	var sizes []int64
	for _, id := range ids {
		if _, _, size, err := rt.Logs.Locate(id); err == nil {
			there, sizes = append(there, id), append(sizes, size)
		}
	}
	if len(there) == 0 {
		return 0, 0, nil
	}
	n, err := rt.Logs.Remove(ctx, there...)
	var bytes int64
	for i, id := range there {
		if err != nil {
			if _, _, _, lerr := rt.Logs.Locate(id); lerr == nil {
				continue // still there: its removal failed
			}
		}
		bytes += sizes[i]
	}
	return int64(n), bytes, err
}

// sweepLogFiles removes the log files that no log of the state names (or
// whose log's contents expired), reading the directory a shard at a time.
func sweepLogFiles(ctx context.Context, rt *service.Runtime) (int64, int64, error) {
	var n, bytes int64
	after := uint64(0)
	for {
		ids, err := rt.Logs.List(ctx, after, 4096)
		if err != nil || len(ids) == 0 {
			return n, bytes, err
		}
		after = ids[len(ids)-1]
		txn := rt.DB.Read() // after listing: a file's log row is older than the file
		var orphans []uint64
		for _, id := range ids {
			l, _ := state.Lookup(txn, state.TableLogs, id).(*messages.Log)
			if (l == nil || l.Type == state.LogTypeDeleted) && rt.Logs.Writer(id) == nil {
				orphans = append(orphans, id)
			}
		}
		k, b, err := removeLogFiles(ctx, rt, orphans)
		n, bytes = n+k, bytes+b
		if err != nil {
			return n, bytes, err
		}
	}
}
