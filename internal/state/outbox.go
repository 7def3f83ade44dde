package state

import (
	"fmt"
	"iter"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/messages"
)

// DefaultOutboxCap is how many reports may wait for one reporter when its
// configuration gives no outbox_cap.
const DefaultOutboxCap = 10_000

// The reporters table holds the configured reporters (by name) with their
// generators and the counts of their outbox; the outbox table holds the
// reports due, one row per (reporter, build, event). AddBuild and
// FinishBuild queue the reports their build is due in the same transaction
// as the start or end itself (queueReports), so a report is never lost
// between a build's result and its delivery; ReportsDone removes them.

// configureReporters makes the reporters table hold exactly rs: new ones
// added with empty counts, kept ones given their new generators and cap
// (counts kept), the others removed with their outbox.
func configureReporters(txn *memdb.Txn, kind string, rs []*messages.ConfiguredReporter) error {
	want := make(map[string]bool, len(rs))
	for i, r := range rs {
		where := fmt.Sprintf("reporters[%d]", i)
		if r.GetName() == "" {
			return bad(kind, "%s.name is empty", where)
		}
		if err := checkStr(kind, where+".name", r.GetName(), MaxFieldBytes); err != nil {
			return err
		}
		if want[r.GetName()] {
			return bad(kind, "%s.name %q is listed twice", where, r.GetName())
		}
		want[r.GetName()] = true
		for k, g := range r.GetGenerators() {
			if _, err := generator(g); err != nil {
				return bad(kind, "%s.generators[%d]: %v", where, k, err)
			}
		}
	}
	old, err := collect[*messages.Reporter](txn.Get(TableReporters, IndexID+"_prefix"))
	if err != nil {
		return err
	}
	byName := make(map[string]*messages.Reporter, len(old))
	for _, r := range old {
		byName[r.Name] = r
		if want[r.Name] {
			continue
		}
		if err := txn.Delete(TableReporters, r); err != nil {
			return err
		}
		if _, err := txn.DeleteAll(TableOutbox, IndexReporter+"_prefix", r.Name); err != nil {
			return err
		}
	}
	for _, c := range rs {
		r := &messages.Reporter{}
		if was := byName[c.GetName()]; was != nil {
			r.Pending, r.Dropped = was.Pending, was.Dropped
		}
		r.Name, r.OutboxCap = c.GetName(), c.GetOutboxCap()
		for _, g := range c.GetGenerators() {
			r.Generators = append(r.Generators, proto.CloneOf(g))
		}
		if was := byName[c.GetName()]; was != nil && proto.Equal(was, r) {
			continue
		}
		if err := txn.Insert(TableReporters, r); err != nil {
			return err
		}
	}
	return nil
}

// generator is a ReportGenerator as internal/report's Generator.
func generator(g *messages.ReportGenerator) (report.Generator, error) {
	f := report.Filter{Builders: g.GetBuilders(), Tags: g.GetTags(), Schedulers: g.GetSchedulers(), Branches: g.GetBranches()}
	var gen report.Generator
	switch g.GetKind() {
	case messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_STATUS:
		modes := make([]report.Mode, len(g.GetModes()))
		for i, m := range g.GetModes() {
			modes[i] = report.Mode(m)
		}
		gen = report.BuildStatusGenerator{Modes: modes, Filter: f, ReportStart: g.GetReportStart()}
	case messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_START_END:
		gen = report.BuildStartEndGenerator{Filter: f}
	case messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_WORKER_MISSING:
		gen = report.WorkerMissingGenerator{Workers: g.GetWorkers()}
	default:
		return nil, fmt.Errorf("kind %v is not a generator kind", g.GetKind())
	}
	return gen, gen.Validate()
}

// queueReports adds to the outbox of every reporter whose generators want
// it the report of event (report.EventBuildStarted or EventBuildFinished)
// about build b, at time at; b is as written in this transaction. A
// reporter whose outbox is full gets none and counts it as dropped; a
// report already queued is not queued again.
func queueReports(txn *memdb.Txn, seq *ids, b *messages.Build, event report.Event, at int64) error {
	if !hasReporters(txn) {
		return nil
	}
	reporters, err := collect[*messages.Reporter](txn.Get(TableReporters, IndexID+"_prefix"))
	if err != nil || len(reporters) == 0 {
		return err
	}
	r, err := generatorInput(txn, b, event)
	if err != nil {
		return err
	}
	return queue(txn, seq, reporters, r, &messages.OutboxEntry{Buildid: b.Id, Event: string(event), CreatedAt: at})
}

// queue adds a copy of e (its id and reporter set) to the outbox of every
// reporter whose generators want r, unless one is queued already; a
// reporter whose outbox is full gets none and counts it as dropped.
func queue(txn *memdb.Txn, seq *ids, reporters []*messages.Reporter, r *report.Report, e *messages.OutboxEntry) error {
	for _, rep := range reporters {
		if !wants(rep, r) {
			continue
		}
		dup, err := txn.First(TableOutbox, IndexReport, rep.Name, e.Buildid, e.GetWorker().GetWorkerid(), e.Event)
		if err != nil {
			return err
		}
		if dup != nil {
			continue
		}
		rep = proto.CloneOf(rep)
		if limit := OutboxCap(rep); rep.Pending >= uint64(limit) {
			rep.Dropped++
		} else {
			id, err := seq.nextID(txn, TableOutbox)
			if err != nil {
				return err
			}
			e := proto.CloneOf(e)
			e.Id, e.Reporter = id, rep.Name
			if err := txn.Insert(TableOutbox, e); err != nil {
				return err
			}
			rep.Pending++
		}
		if err := txn.Insert(TableReporters, rep); err != nil {
			return err
		}
	}
	return nil
}

// MaxNotify bounds the addresses of a missing worker's notice.
const MaxNotify = 64

// applyWorkerMissing queues the notice that a worker is missing for each
// reporter that wants it (WorkerMissing).
func applyWorkerMissing(txn *memdb.Txn, seq *ids, c *messages.WorkerMissing) (*messages.CommandResult, error) {
	const kind = "worker_missing"
	mw := c.GetWorker()
	if mw.GetWorkerid() == 0 {
		return nil, bad(kind, "worker.workerid is required")
	}
	if len(mw.GetNotify()) > MaxNotify {
		return nil, bad(kind, "worker.notify has %d addresses, limit %d", len(mw.GetNotify()), MaxNotify)
	}
	for i, a := range mw.GetNotify() {
		if err := checkStr(kind, fmt.Sprintf("worker.notify[%d]", i), a, MaxFieldBytes); err != nil {
			return nil, err
		}
	}
	w, err := get[*messages.Worker](txn, TableWorkers, IndexID, mw.GetWorkerid())
	if err != nil {
		return nil, err
	}
	if w == nil {
		return nil, bad(kind, "worker %d does not exist", mw.GetWorkerid())
	}
	if !hasReporters(txn) {
		return &messages.CommandResult{Id: w.Id}, nil
	}
	reporters, err := collect[*messages.Reporter](txn.Get(TableReporters, IndexID+"_prefix"))
	if err != nil {
		return nil, err
	}
	r := &report.Report{Event: report.EventWorkerMissing, Worker: &report.Worker{Name: w.Name, Notify: mw.GetNotify()}}
	e := &messages.OutboxEntry{Event: string(report.EventWorkerMissing), CreatedAt: c.GetAt(), Worker: proto.CloneOf(mw)}
	return &messages.CommandResult{Id: w.Id}, queue(txn, seq, reporters, r, e)
}

// hasReporters reports whether the reporters table has a row: a master
// without reporters pays one lookup per build start and end.
func hasReporters(txn *memdb.Txn) bool {
	raw, err := txn.First(TableReporters, IndexID+"_prefix")
	return err == nil && raw != nil
}

// OutboxCap is how many reports may wait for r.
func OutboxCap(r *messages.Reporter) uint32 {
	if r.OutboxCap == 0 {
		return DefaultOutboxCap
	}
	return r.OutboxCap
}

// wants reports whether any of rep's generators wants r. A generator the
// table holds was checked when it was configured.
func wants(rep *messages.Reporter, r *report.Report) bool {
	for _, g := range rep.Generators {
		if gen, err := generator(g); err == nil && gen.Want(r) {
			return true
		}
	}
	return false
}

// generatorInput is what the generators read of build b: its builder's
// name and tags, its result, its scheduler and branch properties, and the
// result of the builder's previous build that did not end RETRY.
func generatorInput(txn *memdb.Txn, b *messages.Build, event report.Event) (*report.Report, error) {
	builder, err := get[*messages.Builder](txn, TableBuilders, IndexID, b.Builderid)
	if err != nil {
		return nil, err
	}
	rb := &report.Build{BuildID: b.Id, Number: b.Number, BuilderID: b.Builderid, Complete: b.Results != nil,
		Results: report.Result(b.GetResults()), Properties: map[string]report.Property{}}
	if builder != nil {
		rb.BuilderName, rb.Tags = builder.Name, builder.Tags
	}
	for _, p := range b.Properties {
		if p.Name == "scheduler" || p.Name == "branch" {
			rb.Properties[p.Name] = report.Property{Value: []byte(p.ValueJson), Source: p.Source}
		}
	}
	if event == report.EventBuildFinished {
		for prev := range BuildsBefore(txn, b.Builderid, b.Number-1) {
			if prev.Results == nil || prev.GetResults() == ResultRetry {
				continue
			}
			rb.Previous = &report.PreviousBuild{Number: prev.Number, Results: report.Result(prev.GetResults())}
			break
		}
	}
	return &report.Report{Event: event, Build: rb}, nil
}

// applyReportsDone removes the listed reports of reporter from its outbox.
func applyReportsDone(txn *memdb.Txn, _ *ids, c *messages.ReportsDone) (*messages.CommandResult, error) {
	const kind = "reports_done"
	if len(c.GetReports()) > MaxIDs {
		return nil, bad(kind, "reports has %d reports, limit %d", len(c.GetReports()), MaxIDs)
	}
	if err := checkStr(kind, "reporter", c.GetReporter(), MaxFieldBytes); err != nil {
		return nil, err
	}
	rep, err := get[*messages.Reporter](txn, TableReporters, IndexID, c.GetReporter())
	if err != nil || rep == nil {
		return &messages.CommandResult{}, err
	}
	removed := uint64(0)
	for _, done := range c.GetReports() {
		e, err := get[*messages.OutboxEntry](txn, TableOutbox, IndexID, done.GetId())
		if err != nil {
			return nil, err
		}
		if e == nil || e.Reporter != rep.Name || e.Buildid != done.GetBuildid() || e.Event != done.GetEvent() {
			continue
		}
		if err := txn.Delete(TableOutbox, e); err != nil {
			return nil, err
		}
		removed++
	}
	if removed > 0 {
		rep = proto.CloneOf(rep)
		rep.Pending -= min(removed, rep.Pending)
		if err := txn.Insert(TableReporters, rep); err != nil {
			return nil, err
		}
	}
	return &messages.CommandResult{Id: removed}, nil
}

// Reporters returns the reporters table in name order.
func Reporters(txn *memdb.Txn) []*messages.Reporter {
	rs, _ := collect[*messages.Reporter](txn.Get(TableReporters, IndexID+"_prefix"))
	return rs
}

// ReporterRow returns reporter name's row, or nil.
func ReporterRow(txn *memdb.Txn, name string) *messages.Reporter {
	r, _ := get[*messages.Reporter](txn, TableReporters, IndexID, name)
	return r
}

// Outbox yields reporter's reports due, oldest first, from the one with
// id after on.
func Outbox(txn *memdb.Txn, reporter string, after uint64) iter.Seq[*messages.OutboxEntry] {
	return func(yield func(*messages.OutboxEntry) bool) {
		it, err := txn.LowerBound(TableOutbox, IndexReporter, reporter, after+1)
		if err != nil {
			return
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			e := raw.(*messages.OutboxEntry)
			if e.Reporter != reporter || !yield(e) {
				return
			}
		}
	}
}

// OutboxWatch returns a channel closed when reporter's outbox changes after
// txn was opened.
func OutboxWatch(txn *memdb.Txn, reporter string) <-chan struct{} {
	ch, _, err := txn.FirstWatch(TableOutbox, IndexReporter+"_prefix", reporter)
	if err != nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return ch
}
