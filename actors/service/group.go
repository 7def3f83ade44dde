package service

import (
	"bytes"
	"log/slog"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Group is one set of children a service owns and reconfigures as a unit:
// Buildbot's BuildbotServiceManager. A Group value belongs to one incarnation
// of its service actor; a restarted service makes new ones.
type Group interface {
	// Plan says what Apply would change going from old to new, by tree path
	// under parent, without touching anything (a dry run).
	Plan(parent string, old, new *messages.MasterConfig) []*messages.ServiceChange
	// Start spawns every child cfg asks for; the service calls it when started.
	Start(ctx actor.Context, rt *Runtime, cfg *messages.MasterConfig)
	// Apply brings the running children in line with cfg: added are spawned,
	// removed are stopped gracefully, changed get their new config in place,
	// those whose kind changed are replaced (stopped, then spawned anew),
	// unchanged are not touched.
	Apply(ctx actor.Context, rt *Runtime, cfg *messages.MasterConfig) []*messages.ServiceChange
	// Terminated tells the group a child has stopped.
	Terminated(ctx actor.Context, rt *Runtime, pid *actor.PID)
}

// Cell holds the latest config of one named child. The parent stores into it
// before telling the child, and the child's producer reads it, so a child
// restarted after an in-place change starts from the changed config.
type Cell[C proto.Message] struct{ v atomic.Value }

// Load returns the config.
func (c *Cell[C]) Load() C { return c.v.Load().(C) }

// Store replaces the config.
func (c *Cell[C]) Store(cfg C) { c.v.Store(cfg) }

// NamedGroup is a Group of children named by their config, one child per
// element of a repeated config field. Children are named Prefix+Name(c).
type NamedGroup[C proto.Message] struct {
	Kind   string                           // tree kind of the children, e.g. "builder"
	Prefix string                           // child name prefix, e.g. "builder:"
	List   func(*messages.MasterConfig) []C // the config elements
	Name   func(C) string                   // an element's configured name
	// New makes the child actor; it is called on every (re)start.
	New func(rt *Runtime, cell *Cell[C]) actor.Actor
	// Class, when set, is an element's kind (a scheduler's type). A child
	// whose class changes is not reconfigured in place but replaced: the old
	// actor is stopped as a removed one is, and a new one spawned once it has
	// terminated (Buildbot counts a name whose class changed as removed and
	// added); the change is CHANGE_KIND_REPLACED.
	Class func(C) string
	// Retire, when set, sends a removed child messages.Retire instead of
	// stopping it: it finishes its work and stops itself. Until then its
	// name stays taken (a namesake added meanwhile waits for it).
	Retire bool

	running  map[string]*namedChild[C] // by child name
	stopping map[string]*actor.PID     // removed, not yet terminated
	pending  map[string]*Cell[C]       // added while a namesake was stopping
}

type namedChild[C proto.Message] struct {
	pid   *actor.PID
	cell  *Cell[C]
	wire  []byte // the cell's config, deterministically marshalled, to compare
	class string // Class of the config it was spawned with
}

// class returns c's Class, or "" when the group has none.
func (g *NamedGroup[C]) class(c C) string {
	if g.Class == nil {
		return ""
	}
	return g.Class(c)
}

// wire returns cfg deterministically marshalled. Comparing these is several
// times cheaper than proto.Equal, and reconfiguring 10,000 builders compares
// 20,000 configs. A config that does not marshal compares as changed.
func wire(cfg proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(cfg)
	if err != nil {
		return nil
	}
	return b
}

// Plan implements Group.
func (g *NamedGroup[C]) Plan(parent string, old, new *messages.MasterConfig) []*messages.ServiceChange {
	prev := make(map[string]C)
	for _, c := range g.List(old) {
		prev[g.Prefix+g.Name(c)] = c
	}
	var out []*messages.ServiceChange
	seen := make(map[string]bool)
	for _, c := range g.List(new) {
		name := g.Prefix + g.Name(c)
		seen[name] = true
		if was, ok := prev[name]; !ok {
			out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_ADDED))
		} else if g.class(was) != g.class(c) {
			out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_REPLACED))
		} else if !proto.Equal(was, c) {
			out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_CHANGED))
		}
	}
	for _, c := range g.List(old) {
		if name := g.Prefix + g.Name(c); !seen[name] {
			out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_REMOVED))
		}
	}
	return out
}

// Start implements Group.
func (g *NamedGroup[C]) Start(ctx actor.Context, rt *Runtime, cfg *messages.MasterConfig) {
	g.running = make(map[string]*namedChild[C])
	g.stopping = make(map[string]*actor.PID)
	g.pending = make(map[string]*Cell[C])
	for _, c := range g.List(cfg) {
		cell := &Cell[C]{}
		cell.Store(c)
		g.spawn(ctx, rt, g.Prefix+g.Name(c), cell)
	}
}

// Apply implements Group.
func (g *NamedGroup[C]) Apply(ctx actor.Context, rt *Runtime, cfg *messages.MasterConfig) []*messages.ServiceChange {
	parent := ctx.Self().Id
	var out []*messages.ServiceChange
	want := make(map[string]bool)
	for _, c := range g.List(cfg) {
		name := g.Prefix + g.Name(c)
		want[name] = true
		if ch, ok := g.running[name]; ok {
			if ch.class != g.class(c) {
				delete(g.running, name)
				g.stop(ctx, name, ch.pid)
				cell := &Cell[C]{}
				cell.Store(c)
				g.pending[name] = cell // spawned when the old one has stopped
				out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_REPLACED))
				continue
			}
			w := wire(c)
			changed := w == nil || !bytes.Equal(ch.wire, w)
			ch.cell.Store(c) // when equal too, so the old generation can be freed
			ch.wire = w
			if changed {
				ctx.Send(ch.pid, c)
				out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_CHANGED))
			}
			continue
		}
		if cell, ok := g.pending[name]; ok { // waits for its namesake to stop
			if was := cell.Load(); g.class(was) != g.class(c) {
				out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_REPLACED))
			} else if !proto.Equal(was, c) {
				out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_CHANGED))
			}
			cell.Store(c)
			continue
		}
		cell := &Cell[C]{}
		cell.Store(c)
		out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_ADDED))
		if _, busy := g.stopping[name]; busy {
			g.pending[name] = cell // spawned when the old one has stopped
			continue
		}
		g.spawn(ctx, rt, name, cell)
	}
	for name, ch := range g.running {
		if want[name] {
			continue
		}
		delete(g.running, name)
		g.stop(ctx, name, ch.pid)
		out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_REMOVED))
	}
	for name := range g.pending {
		if !want[name] {
			// Added (or replaced) by an earlier run, and gone before its
			// namesake stopped: it never runs.
			delete(g.pending, name)
			out = append(out, change(parent, name, messages.ChangeKind_CHANGE_KIND_REMOVED))
		}
	}
	return out
}

// stop stops the child name (pid) gracefully: Retire when the group
// retires its children, else after the messages already queued for it.
// The name stays taken until it has terminated.
func (g *NamedGroup[C]) stop(ctx actor.Context, name string, pid *actor.PID) {
	g.stopping[name] = pid
	if g.Retire {
		ctx.Send(pid, &messages.Retire{})
	} else {
		ctx.Poison(pid)
	}
}

// Terminated implements Group.
func (g *NamedGroup[C]) Terminated(ctx actor.Context, rt *Runtime, pid *actor.PID) {
	name := ChildName(pid.Id)
	if p, ok := g.stopping[name]; !ok || !p.Equal(pid) {
		return
	}
	delete(g.stopping, name)
	if cell, ok := g.pending[name]; ok {
		delete(g.pending, name)
		g.spawn(ctx, rt, name, cell)
	}
}

func (g *NamedGroup[C]) spawn(ctx actor.Context, rt *Runtime, name string, cell *Cell[C]) {
	pid, err := Spawn(ctx, rt, name, g.Kind, func() actor.Actor { return g.New(rt, cell) })
	if err != nil {
		// Names are validated and namesakes wait for each other, so this is a bug.
		rt.Log.Error("cannot spawn child", slog.String("child", name), slog.Any("error", err))
		return
	}
	g.running[name] = &namedChild[C]{pid: pid, cell: cell, wire: wire(cell.Load()), class: g.class(cell.Load())}
}

func change(parent, name string, kind messages.ChangeKind) *messages.ServiceChange {
	return &messages.ServiceChange{Path: paths.Child(parent, name), Kind: kind}
}
