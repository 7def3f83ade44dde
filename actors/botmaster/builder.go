package botmaster

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// builderActor is one configured builder (`builder:NAME`, Buildbot's
// Builder). It registers the builder in the state, and runs each build brd
// asks for as a child actor, `build:BRID`, on the builder's config as it is
// when the build starts (a reconfig does not change a running build).
//
// It accepts its messages.BuilderConfig (in place), messages.StartBuild
// (from brd, answered at once: google.protobuf.Empty once the build is
// spawned, a messages.ControlError when it will not run it), and
// messages.Retire: removed from the config, it starts no more builds (it
// refuses those brd still asks for), lets its running builds finish and
// complete their requests (Buildbot wedges them), and then stops.
//
// It wakes brd for itself as it starts, and when a build's actor is gone
// if it refused a start meanwhile: a builder removed and added again
// starts once its retiring namesake has stopped, which refused what brd
// asked of it; a build that ended RETRY gives its requests back before its
// actor has stopped, and their next start is refused while the name is
// taken.
type builderActor struct {
	rt   *service.Runtime
	cell *service.Cell[*messages.BuilderConfig]
	// log is rt.Log naming the builder, made once: each of its builds logs
	// through it (a logger of their own cost its handler's bound
	// attributes again for every build).
	log      *slog.Logger
	retiring bool // removed by a reconfig: no new builds; stops after the last
	// refused: a start was refused because its build's name was still
	// taken; brd is woken when a build's actor is gone.
	refused bool
}

func newBuilderActor(rt *service.Runtime, cell *service.Cell[*messages.BuilderConfig]) actor.Actor {
	return &builderActor{rt: rt, cell: cell, log: rt.Log.With(slog.String("builder", cell.Load().GetName()))}
}

// Receive implements actor.Actor.
func (b *builderActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		b.publish(ctx)
		cfg := b.cell.Load()
		// brd may have asked for a build while the namesake this builder
		// waited for (a builder removed and added again) was retiring, and
		// been refused: the requests may run now.
		ctx.Send(actor.NewPID(ctx.Self().Address, paths.BRD), &messages.MaybeStartBuilds{Builders: []string{cfg.GetName()}})
		cmd := &messages.Command{Kind: &messages.Command_FindOrAddBuilder{FindOrAddBuilder: &messages.FindOrAddBuilder{
			Name: cfg.GetName(), Description: cfg.GetDescription(), Tags: cfg.GetTags()}}}
		db.Submit(ctx, cmd, func(_ *messages.CommandResult, err error) {
			if err != nil {
				b.rt.Log.Error("builder: cannot register in the state", slog.String("builder", cfg.GetName()), slog.Any("error", err))
			}
		})
	case *messages.BuilderConfig:
		b.publish(ctx)
	case *messages.Retire:
		b.retiring = true
		b.maybeRetire(ctx)
	case *actor.Terminated: // a build's actor is gone
		b.maybeRetire(ctx)
		if b.refused && !b.retiring {
			// A start brd asked for while it was stopping was refused (the
			// name was still taken): its requests may run now.
			b.refused = false
			ctx.Send(actor.NewPID(ctx.Self().Address, paths.BRD), &messages.MaybeStartBuilds{Builders: []string{b.cell.Load().GetName()}})
		}
	case *messages.StartBuild:
		b.start(ctx, m)
	}
}

// start spawns the build brd asks for and answers brd; a build it will not
// run is refused (its requests were never claimed: the build claims them
// as it starts), and brd frees what it reserved for it.
func (b *builderActor) start(ctx actor.Context, m *messages.StartBuild) {
	cfg := b.cell.Load()
	refuse := func(why string) {
		service.Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED,
			Message: fmt.Sprintf("builder %s: %s", cfg.GetName(), why)})
	}
	switch {
	case b.retiring:
		refuse("it is being removed")
		return
	case len(m.GetBrids()) == 0:
		refuse("a build needs a build request")
		return
	}
	name := paths.BuildName(m.GetBrids()[0])
	if _, err := service.Spawn(ctx, b.rt, name, "build", func() actor.Actor { return newBuild(b.rt, b.log, cfg, m) }); err != nil {
		b.rt.Log.Error("builder: cannot start a build", slog.String("builder", cfg.GetName()), slog.Any("error", err))
		b.refused = true
		refuse(err.Error())
		return
	}
	service.Respond(ctx, &emptypb.Empty{})
}

// maybeRetire stops a retiring builder once no build runs.
func (b *builderActor) maybeRetire(ctx actor.Context) {
	if b.retiring && len(ctx.Children()) == 0 {
		ctx.Stop(ctx.Self())
	}
}

func (b *builderActor) publish(ctx actor.Context) {
	if n := service.NodeOf(ctx, b.rt); n != nil {
		n.SetState(b.cell.Load())
	}
}
