// Package botmaster is the `botmaster` service (Buildbot's BotMaster). It
// owns `brd`, the build request distributor, and one actor per configured
// worker (`worker:NAME`) and per configured builder (`builder:NAME`), as in
// the seed's layout where workers and builders are children of botmaster.
//
// It accepts messages.ApplyConfig (workers and builders are diffed by name:
// added spawned, removed stopped, changed reconfigured in place). A builder
// actor accepts a messages.BuilderConfig, its new config, taken in place. A
// worker actor (worker.go) is the master's side of that worker's
// connection: see workerActor for what it accepts.
package botmaster

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/messages"
)

// Name is the service's name in the tree.
const Name = "botmaster"

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{Name: Name, Kind: "botmaster", Groups: groups, New: newBotmaster}
}

func groups() []service.Group {
	return []service.Group{
		&service.NamedGroup[*messages.WorkerConfig]{Kind: "worker", Prefix: "worker:",
			List: (*messages.MasterConfig).GetWorkers, Name: (*messages.WorkerConfig).GetName, New: newWorkerActor},
		&service.NamedGroup[*messages.BuilderConfig]{Kind: "builder", Prefix: "builder:",
			List: (*messages.MasterConfig).GetBuilders, Name: (*messages.BuilderConfig).GetName, New: newBuilderActor},
	}
}

type botmaster struct{ service.Base }

func newBotmaster(rt *service.Runtime, s service.Spec) actor.Actor {
	return &botmaster{Base: service.NewBase(rt, s)}
}

// Receive implements actor.Actor.
func (b *botmaster) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		if _, err := service.Spawn(ctx, b.RT, "brd", "brd", func() actor.Actor { return newBRD(b.RT) }); err != nil {
			panic(err)
		}
	case *messages.ApplyConfig:
		// The end of a reconfig wakes the distributor for every builder.
		defer ctx.Send(actor.NewPID(ctx.Self().Address, BRDPath), &messages.MaybeStartBuilds{})
	}
	b.Base.Receive(ctx)
}
