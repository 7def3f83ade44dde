package status

import (
	"encoding/json"
	"log/slog"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/dataapi"
	"github.com/buildmaster/buildmaster/internal/mq"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Publisher publishes on the master's event bus every change of state as
// the Buildbot event it is (builds/ID/new, logs/ID/append,
// workers/ID/state_updated …), its message the row as the data API shows
// it. Committed is the state's commit hook (state.Store.OnCommit);
// LogAppended is the log writer's (service.Runtime.LogAppended): a log's
// lines reach its file, not the state, so the log writer says when they
// come, and a log's append events are its, never the state's (whose
// num_lines trails the file). Neither blocks (the bus drops a subscriber
// that falls behind) nor encodes anything while nobody subscribes.
type Publisher struct {
	bus   *mq.Bus
	read  func() *memdb.Txn // the committed state, to find the builder a step's or a log's events belong to
	log   *slog.Logger
	views map[string]dataapi.View
}

// NewPublisher returns the Publisher of the state read gives on bus.
func NewPublisher(bus *mq.Bus, read func() *memdb.Txn, log *slog.Logger) *Publisher {
	return &Publisher{bus: bus, read: read, log: log, views: endpointViews()}
}

// Committed publishes the events of one committed transaction.
func (pb *Publisher) Committed(changes memdb.Changes) {
	if pb.bus.Stats().Subscribers == 0 {
		return
	}
	p := publisher{read: pb.read}
	defer p.done()
	for _, c := range changes {
		if ev, ok := p.event(c); ok {
			pb.publish(ev, c.Table)
		}
	}
}

// LogAppended publishes logs/ID/append for log logid, which now has lines
// lines in its file.
func (pb *Publisher) LogAppended(logid uint64, lines int64) {
	if pb.bus.Stats().Subscribers == 0 {
		return
	}
	p := publisher{read: pb.read}
	defer p.done()
	before, ok := p.lookup(state.TableLogs, logid).(*messages.Log)
	if !ok || before.Complete {
		return
	}
	after := proto.CloneOf(before)
	after.NumLines = max(after.NumLines, lines)
	ch := p.logChange(after)
	ch.Kind, ch.Event = mq.Logs, "append"
	pb.publish(event{change: ch, plural: state.TableLogs, row: after}, state.TableLogs)
}

func (pb *Publisher) publish(ev event, table string) {
	body, err := json.Marshal(pb.views[ev.plural].Record(ev.row, nil))
	if err == nil {
		err = pb.bus.PublishChange(ev.change, body)
	}
	if err != nil {
		pb.log.Warn("status: cannot publish a state change", slog.String("table", table), slog.Any("error", err))
	}
}

// publisher resolves the events of one committed transaction.
type publisher struct {
	read func() *memdb.Txn
	txn  *memdb.Txn // opened at the first lookup
}

// event is one change to publish: its routing, and the row under its
// data API name.
type event struct {
	change mq.Change
	plural string
	row    proto.Message
}

// event is the Buildbot event of c; false when c is none (a row Buildbot
// announces nothing about, or a deletion).
func (p *publisher) event(c memdb.Change) (event, bool) {
	if c.After == nil {
		return event{}, false
	}
	at := func(kind mq.Kind, name string, row proto.Message, ch mq.Change) (event, bool) {
		if name == "" {
			return event{}, false
		}
		ch.Kind, ch.Event = kind, name
		return event{change: ch, plural: c.Table, row: row}, true
	}
	switch after := c.After.(type) {
	case *messages.Change:
		return at(mq.Changes, newOnly(c), after, mq.Change{ID: after.Changeid})
	case *messages.Buildset:
		before, _ := c.Before.(*messages.Buildset)
		return at(mq.Buildsets, lifecycle(before == nil, before.GetComplete(), after.Complete, "new", "complete", ""), after, mq.Change{ID: after.Id})
	case *messages.BuildRequest:
		before, _ := c.Before.(*messages.BuildRequest)
		name := lifecycle(before == nil, before.GetComplete(), after.Complete, "new", "complete", "")
		switch {
		case name != "":
		case before.GetClaim() == nil && after.Claim != nil:
			name = "claimed"
		case before.GetClaim() != nil && after.Claim == nil:
			name = "unclaimed"
		}
		return at(mq.BuildRequests, name, after, mq.Change{ID: after.Id, BuilderID: after.Builderid, BuildsetID: after.Buildsetid})
	case *messages.Build:
		before, _ := c.Before.(*messages.Build)
		name := lifecycle(before == nil, before.HasResults(), after.HasResults(), "new", "finished", "update")
		return at(mq.Builds, name, after, mq.Change{ID: after.Id, BuilderID: after.Builderid, Number: uint64(after.Number), WorkerID: after.Workerid})
	case *messages.Step:
		before, _ := c.Before.(*messages.Step)
		name := lifecycle(before == nil, before.HasResults(), after.HasResults(), "new", "finished", "updated")
		return at(mq.Steps, name, after, mq.Change{ID: after.Id, BuildID: after.Buildid, BuilderID: p.builderOfBuild(after.Buildid)})
	case *messages.Log:
		before, _ := c.Before.(*messages.Log)
		// append comes from LogAppended, not from num_lines here.
		name := lifecycle(before == nil, before.GetComplete(), after.Complete, "new", "finished", "")
		return at(mq.Logs, name, after, p.logChange(after))
	case *messages.Builder:
		return at(mq.Builders, "update", after, mq.Change{ID: after.Id})
	case *messages.Worker:
		before, _ := c.Before.(*messages.Worker)
		var name string
		switch {
		case len(after.ConnectedTo) > len(before.GetConnectedTo()):
			name = "connected"
		case len(after.ConnectedTo) < len(before.GetConnectedTo()):
			name = "disconnected"
		case before != nil && (before.Paused != after.Paused || before.Graceful != after.Graceful):
			name = "state_updated"
		}
		return at(mq.Workers, name, after, mq.Change{ID: after.Id})
	case *messages.Scheduler:
		before, _ := c.Before.(*messages.Scheduler)
		if before != nil && before.Enabled == after.Enabled && before.Masterid == after.Masterid {
			return event{}, false
		}
		return at(mq.Schedulers, "updated", after, mq.Change{ID: after.Id})
	case *messages.Master:
		before, _ := c.Before.(*messages.Master)
		name := lifecycle(false, before.GetActive(), after.Active, "", "started", "")
		if before.GetActive() && !after.Active {
			name = "stopped"
		}
		return at(mq.Masters, name, after, mq.Change{ID: after.Id})
	}
	return event{}, false
}

// lifecycle names the event of a row that was added (created), or whose
// done flag went from was to is: onNew, onDone, or otherwise onUpdate.
func lifecycle(created, was, is bool, onNew, onDone, onUpdate string) string {
	switch {
	case created:
		return onNew
	case !was && is:
		return onDone
	}
	return onUpdate
}

// newOnly is "new" for an added row, "" for a changed one.
func newOnly(c memdb.Change) string {
	if c.Before == nil {
		return "new"
	}
	return ""
}

// done ends the transaction lookups opened.
func (p *publisher) done() {
	if p.txn != nil {
		p.txn.Abort()
	}
}

func (p *publisher) lookup(table string, id uint64) proto.Message {
	if p.txn == nil {
		p.txn = p.read()
	}
	return state.Lookup(p.txn, table, id)
}

// logChange is the routing of log l's events (Kind and Event unset).
func (p *publisher) logChange(l *messages.Log) mq.Change {
	return mq.Change{ID: l.Id, StepID: l.Stepid, Slug: l.Slug, BuilderID: p.builderOfStep(l.Stepid)}
}

func (p *publisher) builderOfBuild(buildid uint64) uint64 {
	b, _ := p.lookup(state.TableBuilds, buildid).(*messages.Build)
	return b.GetBuilderid()
}

func (p *publisher) builderOfStep(stepid uint64) uint64 {
	s, _ := p.lookup(state.TableSteps, stepid).(*messages.Step)
	return p.builderOfBuild(s.GetBuildid())
}
