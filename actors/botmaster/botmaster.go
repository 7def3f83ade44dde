// Package botmaster is the `botmaster` service (Buildbot's BotMaster). It
// owns `brd`, the build request distributor, and one actor per configured
// worker (`worker:NAME`) and per configured builder (`builder:NAME`), as in
// the seed's layout where workers and builders are children of botmaster.
//
// It accepts messages.ApplyConfig (workers and builders are diffed by name:
// added spawned, removed stopped, changed reconfigured in place), and from
// the master messages.StopMasterRequest for a clean shutdown (shutdown.go). A builder
// actor accepts a messages.BuilderConfig, its new config, taken in place. A
// worker actor (worker.go) is the master's side of that worker's
// connection: see workerActor for what it accepts.
package botmaster

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{Name: paths.BotmasterName, Kind: "botmaster", Groups: groups, New: newBotmaster}
}

func groups() []service.Group {
	return []service.Group{
		&service.NamedGroup[*messages.WorkerConfig]{Kind: "worker", Prefix: paths.WorkerPrefix,
			List: (*messages.MasterConfig).GetWorkers, Name: (*messages.WorkerConfig).GetName, New: newWorkerActor, Retire: true},
		&service.NamedGroup[*messages.BuilderConfig]{Kind: "builder", Prefix: paths.BuilderPrefix,
			List: (*messages.MasterConfig).GetBuilders, Name: (*messages.BuilderConfig).GetName, New: newBuilderActor, Retire: true},
	}
}

type botmaster struct {
	service.Base
	shutdown cleanShutdown
}

func newBotmaster(rt *service.Runtime, s service.Spec) actor.Actor {
	return &botmaster{Base: service.NewBase(rt, s)}
}

// Receive implements actor.Actor.
func (b *botmaster) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.StopBuildRequest:
		if service.Authorized(ctx, b.RT, m.GetToken()) {
			b.stopBuild(ctx, m)
		}
		return
	case *messages.StopMasterRequest:
		if service.Authorized(ctx, b.RT, m.GetToken()) {
			b.stopRequest(ctx, m)
		}
		return
	case shutdownPoll:
		b.polled(ctx, m)
		return
	case *messages.WorkerControlRequest:
		if !service.Authorized(ctx, b.RT, m.GetToken()) {
			return
		}
		path := paths.Worker(m.GetWorker())
		if b.RT.Tree.Lookup(path) == nil || m.GetAction() == messages.WorkerAction_WORKER_ACTION_UNSPECIFIED {
			service.Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT,
				Message: fmt.Sprintf("worker: there is no worker %q (or no action)", m.GetWorker())})
			return
		}
		ctx.RequestWithCustomSender(actor.NewPID(ctx.Self().Address, path), m, ctx.Sender())
		return
	case *actor.Started:
		if _, err := service.Spawn(ctx, b.RT, paths.BRDName, "brd", func() actor.Actor { return newBRD(b.RT) }); err != nil {
			panic(err)
		}
	case *messages.ApplyConfig:
		// The end of a reconfig wakes the distributor for every builder.
		defer ctx.Send(actor.NewPID(ctx.Self().Address, paths.BRD), &messages.MaybeStartBuilds{})
	}
	b.Base.Receive(ctx)
}

// stopBuild finds the running build and tells it to stop.
func (b *botmaster) stopBuild(ctx actor.Context, m *messages.StopBuildRequest) {
	refuse := func(format string, args ...any) {
		service.Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT,
			Message: "stop-build: " + fmt.Sprintf(format, args...)})
	}
	txn := b.RT.DB.Read()
	bldr, _ := state.First(txn, state.TableBuilders, state.IndexName, m.GetBuilder()).(*messages.Builder)
	if bldr == nil {
		refuse("there is no builder %q", m.GetBuilder())
		return
	}
	build, _ := state.First(txn, state.TableBuilds, state.IndexBuilderNumber, bldr.GetId(), m.GetNumber()).(*messages.Build)
	switch {
	case build == nil:
		refuse("builder %s has no build %d", m.GetBuilder(), m.GetNumber())
		return
	case build.Results != nil:
		refuse("build %s #%d is already finished", m.GetBuilder(), m.GetNumber())
		return
	}
	reason := m.GetReason()
	if reason == "" {
		reason = "stopped by buildmaster stop-build"
	}
	pid := actor.NewPID(ctx.Self().Address, paths.Build(m.GetBuilder(), build.GetBuildrequestid()))
	if b.RT.Tree.Lookup(pid.Id) == nil {
		refuse("build %s #%d is not running on this master", m.GetBuilder(), m.GetNumber())
		return
	}
	b.RT.Log.Info("stopping build", slog.String("builder", m.GetBuilder()), slog.Int("number", int(m.GetNumber())),
		slog.String("reason", reason))
	ctx.Send(pid, &StopBuild{Reason: reason})
	service.Respond(ctx, &messages.StopBuildResponse{Buildid: build.GetId()})
}
