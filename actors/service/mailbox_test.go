package service

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// A message sent to an actor's name while protoactor spawns it — the name
// is registered, the mailbox has no dispatcher yet — reaches the actor after
// its Started, before what is sent later. (brd asks a builder by name while
// botmaster spawns it again: protoactor's own mailbox read its dispatcher
// unsynchronised, a data race and, when the sender won, a nil dereference.)
func TestMailboxTakesWhatIsSentDuringTheSpawn(t *testing.T) {
	rt := testRuntime(t, 3, &messages.MasterConfig{})
	const name = "early"
	got := make(chan any, 10)
	producer := func() actor.Actor {
		return actor.ReceiveFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *actor.Started, string:
				got <- m
			}
		})
	}
	// OnInit runs on the spawner's goroutine, between the registration of
	// the name and the mailbox's handlers.
	during := actor.WithOnInit(func(actor.Context) { rt.System.Root.Send(rt.System.NewLocalPID(name), "sent during the spawn") })
	pid, err := rt.System.Root.SpawnNamed(props(rt, rt.Tree.add(nil, name, name, "test"), producer).Configure(during), name)
	if err != nil {
		t.Fatal(err)
	}
	rt.System.Root.Send(pid, "sent after")
	if first := testkit.Recv(t, "Started", got); !isStarted(first) {
		t.Fatalf("first message %v, want Started", first)
	}
	for _, want := range []string{"sent during the spawn", "sent after"} {
		if m := testkit.Recv(t, want, got); m != want {
			t.Fatalf("got %v, want %q", m, want)
		}
	}
}

func isStarted(m any) bool {
	_, ok := m.(*actor.Started)
	return ok
}
