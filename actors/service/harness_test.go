package service

import (
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// testRuntime returns a runtime on a fresh actor system with a restart limit.
func testRuntime(t *testing.T, maxRestarts int, cfg *messages.MasterConfig) *Runtime {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	cfg.Supervision = &messages.SupervisionConfig{MaxRestarts: new(int32(maxRestarts)), Within: durationpb.New(time.Minute)}
	gaveUp := make(chan any, 1)
	rt := NewRuntime(system, quiet, cfg, func(r any) { gaveUp <- r })
	t.Cleanup(system.Shutdown)
	return rt
}

// spawnParent spawns a minimal service, master/svc: a Simple with a worker
// group, or with the given group.
func spawnParent(t *testing.T, rt *Runtime, group ...Group) *actor.PID {
	t.Helper()
	if len(group) == 0 {
		group = []Group{workerGroup()}
	}
	spec := Spec{Name: "svc", Kind: "svc", Groups: func() []Group { return group }}
	root := func() actor.Actor {
		return actor.ReceiveFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*actor.Started); ok {
				if _, err := Spawn(ctx, rt, spec.Name, spec.Kind, spec.Producer(rt)); err != nil {
					panic(err)
				}
			}
		})
	}
	pid, err := SpawnRoot(rt, "master", "master", rt.Root, root)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "svc running", func() bool {
		n := rt.Tree.Lookup("master/svc")
		return n != nil && n.Status() == StatusRunning
	})
	return pid
}
