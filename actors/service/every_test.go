package service

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestEvery: ticks arrive until the cancel, none after it has returned (a
// cancel called twice is harmless).
func TestEvery(t *testing.T) {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	got := make(chan int, 100)
	pid := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if n, ok := c.Message().(int); ok {
			got <- n
		}
	}))
	cancel := Every(system.Root, time.Millisecond, pid, 7)
	for range 3 {
		if n := testkit.Recv(t, "a tick", got); n != 7 {
			t.Fatalf("tick %d", n)
		}
	}
	cancel()
	cancel()
	// The ticks sent before the cancel returned are in the actor's mailbox
	// before a marker sent after it, and nothing is sent after it: the
	// marker, then a second one, come next.
	system.Root.Send(pid, 0)
	for n := testkit.Recv(t, "the marker", got); n != 0; n = testkit.Recv(t, "the marker", got) {
		if n != 7 {
			t.Fatalf("tick %d", n)
		}
	}
	system.Root.Send(pid, 1)
	if n := testkit.Recv(t, "the second marker", got); n != 1 {
		t.Fatalf("a tick after the cancel: %d", n)
	}
}

// heldSender tells sending of a Send (unless it already holds a word), holds it
// until release is closed, then counts it.
type heldSender struct {
	actor.SenderContext
	sending chan struct{}
	release chan struct{}
	sent    atomic.Int32
}

func (s *heldSender) Send(*actor.PID, any) {
	select {
	case s.sending <- struct{}{}:
	default:
	}
	<-s.release
	s.sent.Add(1)
}

// A tick being sent when Every is cancelled is sent before the cancel
// returns.
func TestEveryCancelWaitsForATickBeingSent(t *testing.T) {
	s := &heldSender{sending: make(chan struct{}, 1), release: make(chan struct{})}
	cancel := Every(s, time.Millisecond, nil, 7)
	testkit.Recv(t, "a tick being sent", s.sending)
	cancelling := make(chan struct{})
	go func() {
		<-cancelling
		close(s.release)
	}()
	close(cancelling)
	cancel()
	if n := s.sent.Load(); n != 1 {
		t.Fatalf("%d ticks sent when the cancel returned, want the one being sent", n)
	}
}
