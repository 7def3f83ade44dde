// Package botmaster is the `botmaster` service (Buildbot's BotMaster). It
// owns `brd`, the build request distributor, and one actor per configured
// worker (`worker:NAME`) and per configured builder (`builder:NAME`), as in
// the seed's layout where workers and builders are children of botmaster.
//
// It accepts messages.ApplyConfig (workers and builders are diffed by name:
// added spawned, removed stopped, changed reconfigured in place; then brd is
// given the config, before the master hears that it is applied, so that brd
// never starts a build on a builder whose actor does not exist yet), brd's
// configWanted, and from the master messages.StopMasterRequest for a clean
// shutdown (shutdown.go). A builder
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
	b := &botmaster{Base: service.NewBase(rt, s)}
	b.Applied = func(ctx actor.Context, cfg *messages.MasterConfig) {
		ctx.Send(actor.NewPID(ctx.Self().Address, paths.BRD), brdConfig{cfg: cfg})
	}
	return b
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
	case configWanted: // brd restarted
		b.Applied(ctx, b.Config)
		return
	case *actor.Started:
		if _, err := service.Spawn(ctx, b.RT, paths.BRDName, "brd", func() actor.Actor { return newBRD(b.RT) }); err != nil {
			panic(err)
		}
	}
	b.Base.Receive(ctx)
}

// stopBuild finds the running build and tells it to stop.
func (b *botmaster) stopBuild(ctx actor.Context, m *messages.StopBuildRequest) {
	refuse := func(format string, args ...any) {
		service.Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT,
			Message: "stop-build: " + fmt.Sprintf(format, args...)})
	}
	build, builder, err := state.BuildByRef(b.RT.DB.Read(), m.GetBuildid(), m.GetBuilder(), m.GetNumber())
	switch {
	case err != nil:
		refuse("%v", err)
		return
	case build.Results != nil:
		refuse("build %s #%d is already finished", builder, build.GetNumber())
		return
	}
	reason := m.GetReason()
	if reason == "" {
		reason = "stopped by buildmaster stop-build"
	}
	pid := actor.NewPID(ctx.Self().Address, paths.Build(builder, build.GetBuildrequestid()))
	if b.RT.Tree.Lookup(pid.Id) == nil {
		refuse("build %s #%d is not running on this master", builder, build.GetNumber())
		return
	}
	b.RT.Log.Info("stopping build", slog.String("builder", builder), slog.Int("number", int(build.GetNumber())),
		slog.String("reason", reason))
	ctx.Send(pid, &StopBuild{Reason: reason})
	service.Respond(ctx, &messages.StopBuildResponse{Buildid: build.GetId()})
}
