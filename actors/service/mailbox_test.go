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
	node, _ := rt.Tree.add(nil, name, name, "test")
	pid, err := rt.System.Root.SpawnNamed(props(rt, node, producer).Configure(during), name)
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

// An actor that fails on a message sent during its spawn takes nothing more
// before its restart, as when the messages are sent after its Started:
// protoactor suspends a failed actor's mailbox with a system message, which
// its mailbox takes ahead of the user messages; this one must not hold it
// behind those it is posting. The dispatcher runs the actor on the poster's
// goroutine, so the actor fails while the held messages are being posted.
func TestMailboxSuspendsAnActorThatFailsOnAHeldMessage(t *testing.T) {
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	const name = "fails-early"
	got := make(chan string, 10)
	producer := func() actor.Actor {
		return actor.ReceiveFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *actor.Started:
				got <- "started"
			case *actor.Restarting:
				got <- "restarting"
			case string:
				got <- m
				if m == "fail" {
					panic("failing on a held message")
				}
			}
		})
	}
	during := actor.WithOnInit(func(actor.Context) {
		pid := system.NewLocalPID(name)
		system.Root.Send(pid, "fail")
		system.Root.Send(pid, "after the failure")
	})
	p := actor.PropsFromProducer(producer, actor.WithMailbox(Mailbox), during, actor.WithDispatcher(actor.NewSynchronizedDispatcher(300)))
	if _, err := system.Root.SpawnNamed(p, name); err != nil {
		t.Fatal(err)
	}
	var took []string
	for _, want := range []string{"started", "fail", "restarting", "started", "after the failure"} {
		if took = append(took, testkit.Recv(t, want, got)); took[len(took)-1] != want {
			t.Fatalf("the actor took %q, want %q next", took, want)
		}
	}
}

func isStarted(m any) bool {
	_, ok := m.(*actor.Started)
	return ok
}
