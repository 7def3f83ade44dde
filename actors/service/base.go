package service

import (
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// Base is the part every service actor shares: it spawns its groups from the
// config in force when the service starts, applies a new generation to them,
// and routes child terminations. A service embeds it and calls it from its
// Receive; Receive here is enough for a service that only owns children.
type Base struct {
	RT     *Runtime
	Groups []Group
	// Config is the generation this service last applied.
	Config *messages.MasterConfig
	// Part, when set, picks the service's own part of a config (not its
	// children's); a change to it is reported as a change of the service.
	Part func(*messages.MasterConfig) proto.Message
	// OnConfig, when set, takes the service's own part of a config: when the
	// service starts, and whenever Part changes.
	OnConfig func(ctx actor.Context, cfg *messages.MasterConfig)
	// Applied, when set, runs once the groups have taken a new generation,
	// before the service acknowledges it: what the service tells others then
	// reaches them before anything the master's next phase causes.
	Applied func(ctx actor.Context, cfg *messages.MasterConfig)
}

// Receive handles Started, ApplyConfig and Terminated; it reports whether
// the message was one of those.
func (b *Base) Receive(ctx actor.Context) bool {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		b.Config = b.RT.Config()
		for _, g := range b.Groups {
			g.Start(ctx, b.RT, b.Config)
		}
		if b.OnConfig != nil {
			b.OnConfig(ctx, b.Config)
		}
	case *messages.ApplyConfig:
		var changes []*messages.ServiceChange
		for _, g := range b.Groups {
			changes = append(changes, g.Apply(ctx, b.RT, m.GetConfig())...)
		}
		if c := PartChange(ctx.Self().Id, b.Part, b.Config, m.GetConfig()); c != nil {
			changes = append(changes, c)
			if b.OnConfig != nil {
				b.OnConfig(ctx, m.GetConfig())
			}
		}
		b.Config = m.GetConfig()
		if b.Applied != nil {
			b.Applied(ctx, b.Config)
		}
		ctx.Respond(&messages.ConfigApplied{Path: ctx.Self().Id, Generation: m.GetGeneration(), Changes: changes})
	case *actor.Terminated:
		for _, g := range b.Groups {
			g.Terminated(ctx, b.RT, m.Who)
		}
	default:
		return false
	}
	return true
}

// PartChange returns the change of the service at path when its own part of
// the config differs between old and new, or nil.
func PartChange(path string, part func(*messages.MasterConfig) proto.Message, old, new *messages.MasterConfig) *messages.ServiceChange {
	if part == nil || proto.Equal(part(old), part(new)) {
		return nil
	}
	return &messages.ServiceChange{Path: path, Kind: messages.ChangeKind_CHANGE_KIND_CHANGED}
}

// Plan returns what applying new after old would change in a service at
// path with the given part and groups: the dry run of Base's ApplyConfig.
func Plan(path string, part func(*messages.MasterConfig) proto.Message, groups []Group, old, new *messages.MasterConfig) []*messages.ServiceChange {
	var out []*messages.ServiceChange
	if c := PartChange(path, part, old, new); c != nil {
		out = append(out, c)
	}
	for _, g := range groups {
		out = append(out, g.Plan(path, old, new)...)
	}
	return out
}

// Leaf is the actor of a configured thing (a worker, a builder, a scheduler,
// a change source) that for now holds its config and reports it on its tree
// node. A changed config arrives as the config message
// itself and is taken in place.
type Leaf[C proto.Message] struct {
	RT   *Runtime
	Cell *Cell[C]
}

// Receive implements actor.Actor.
func (l *Leaf[C]) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.publish(ctx, l.Cell.Load())
	case C:
		l.publish(ctx, m)
	}
}

func (l *Leaf[C]) publish(ctx actor.Context, cfg C) {
	if n := NodeOf(ctx, l.RT); n != nil {
		n.SetState(cfg)
	}
}

// LeafGroup is a NamedGroup of Leaf actors: configured things that, for
// now, only hold their config.
func LeafGroup[C proto.Message](kind, prefix string, list func(*messages.MasterConfig) []C, name func(C) string) *NamedGroup[C] {
	return &NamedGroup[C]{Kind: kind, Prefix: prefix, List: list, Name: name,
		New: func(rt *Runtime, c *Cell[C]) actor.Actor { return &Leaf[C]{RT: rt, Cell: c} }}
}
