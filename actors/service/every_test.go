package service

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestEvery: ticks arrive until the cancel, none after it (a cancel
// called twice is harmless).
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
	// A tick already sent may still arrive; then nothing does: an
	// actor's mailbox is in order, so a marker sent after the quiet period
	// comes next.
	time.Sleep(20 * time.Millisecond)
	for len(got) > 0 {
		<-got
	}
	system.Root.Send(pid, 0)
	if n := testkit.Recv(t, "the marker", got); n != 0 {
		t.Fatalf("a tick after the cancel: %d", n)
	}
}
