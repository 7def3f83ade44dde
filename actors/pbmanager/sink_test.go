package pbmanager

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/messages"
)

// sinkEnds is a sink whose build and connection are actors that pass on
// what they get, in order.
func sinkEnds(t *testing.T) (s *sink, build, conn chan any) {
	t.Helper()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	t.Cleanup(system.Shutdown)
	relay := func(to chan any) *actor.PID {
		return system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *messages.CommandUpdate, lostCommand:
				to <- m
			}
		}))
	}
	build, conn = make(chan any, 4), make(chan any, 4)
	s = &sink{id: "c", worker: "w", build: relay(build), conn: relay(conn), root: system.Root,
		open: &openCommands{sinks: map[string]*sink{}}}
	s.open.add(s)
	return s, build, conn
}

var lastUpdates = []wire.Update{{Key: "header", Text: "true\n"}, {Key: "stdout", Text: "out\n"}, {Key: "rc", Int: 2}, {Key: "elapsed", Float: 0.5}}

// A command's last output and its end reach the build in one message
// (one handoff to the build instead of two), the output first.
func TestFinishSendsTheLastOutputWithTheComplete(t *testing.T) {
	s, build, _ := sinkEnds(t)
	s.Finish(lastUpdates, nil)
	u := testkit.Recv(t, "the complete", build).(*messages.CommandUpdate)
	got := ""
	for _, o := range u.GetOutputs() {
		got += fmt.Sprintf("%v:%q ", o.GetStream(), o.GetData())
	}
	want := `OUTPUT_STREAM_HEADER:"true\n" OUTPUT_STREAM_STDOUT:"out\n" OUTPUT_STREAM_HEADER:"program finished with exit code 2\n" `
	if got != want || u.GetComplete() == nil || u.GetComplete().GetRc() != 2 || u.GetComplete().GetElapsed().AsDuration().Seconds() != 0.5 {
		t.Errorf("the build got outputs %s and complete %v; want %s and rc 2, elapsed 0.5s", got, u.GetComplete(), want)
	}
	select {
	case m := <-build:
		t.Errorf("a second message to the build: %v", m)
	default:
	}
	if s.open.count() != 0 {
		t.Error("the finished command is still counted open")
	}
}

// A command ended by the lost connection: its last output goes to the
// build at once, its complete to the connection's actor, which holds it
// until the worker's actor has let the connection go.
func TestFinishOfALostCommandSendsTheOutputToTheBuild(t *testing.T) {
	s, build, conn := sinkEnds(t)
	s.Finish(lastUpdates[:2], fmt.Errorf("%w: reset", wire.ErrConnectionLost))
	u := testkit.Recv(t, "the output", build).(*messages.CommandUpdate)
	if len(u.GetOutputs()) != 2 || u.GetComplete() != nil {
		t.Errorf("the build got %v, want the two outputs alone", u)
	}
	l := testkit.Recv(t, "the lost complete", conn).(lostCommand)
	if c := l.update.GetComplete(); c == nil || !c.GetLostConnection() || len(l.update.GetOutputs()) != 0 {
		t.Errorf("the connection's actor got %v, want a lost complete without output", l.update)
	}
}
