package service

import (
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes one service under master: what the master spawns, and what
// a dry run needs to plan a reconfiguration without touching the service.
type Spec struct {
	Name string // the tree name, e.g. "botmaster"
	Kind string
	// Part picks the service's own part of the config; nil when it has none.
	Part func(*messages.MasterConfig) proto.Message
	// Groups makes the service's child groups (fresh values each call).
	Groups func() []Group
	// New makes the service actor; nil means a plain Simple service.
	New func(rt *Runtime, s Spec) actor.Actor
}

// Plan is the dry run of applying new after old to this service under parent.
func (s Spec) Plan(parent string, old, new *messages.MasterConfig) []*messages.ServiceChange {
	var groups []Group
	if s.Groups != nil {
		groups = s.Groups()
	}
	return Plan(paths.Child(parent, s.Name), s.Part, groups, old, new)
}

// Producer returns the producer the master spawns the service with.
func (s Spec) Producer(rt *Runtime) actor.Producer {
	return func() actor.Actor {
		if s.New != nil {
			return s.New(rt, s)
		}
		return NewSimple(rt, s)
	}
}

// NewBase returns the Base of a service described by s.
func NewBase(rt *Runtime, s Spec) Base {
	b := Base{RT: rt, Part: s.Part}
	if s.Groups != nil {
		b.Groups = s.Groups()
	}
	return b
}

// Simple is a service that only owns children and holds its own part of
// the config, which it shows on its tree node.
type Simple struct{ Base }

// NewSimple returns a Simple service described by s.
func NewSimple(rt *Runtime, s Spec) *Simple {
	sv := &Simple{Base: NewBase(rt, s)}
	if s.Part != nil {
		sv.OnConfig = func(ctx actor.Context, cfg *messages.MasterConfig) {
			if n := NodeOf(ctx, rt); n != nil {
				n.SetState(s.Part(cfg))
			}
		}
	}
	return sv
}

// Receive implements actor.Actor.
func (s *Simple) Receive(ctx actor.Context) { s.Base.Receive(ctx) }
