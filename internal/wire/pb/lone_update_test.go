package pb

import (
	"context"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// seenSink tells on seen each update's key as its Sink gets it.
type seenSink struct {
	*sink
	seen chan string
}

func (s seenSink) Update(us []wire.Update) {
	s.sink.Update(us)
	for _, u := range us {
		s.seen <- u.Key
	}
}

// TestALoneUpdateReachesTheSinkAtOnce: an update the worker
// sends and then nothing (a command printing a line, then working quietly)
// reaches the Sink before anything else comes in: the read loop hands held
// updates over before it waits for input (settle). No other test fails
// when settle does not call deliverHeld.
func TestALoneUpdateReachesTheSinkAtOnce(t *testing.T) {
	_, w, c, _ := loggedIn(t, Config{})
	ctx := context.Background()
	release := make(chan struct{})
	w.bot.start = func(cmd RemoteRef, _, _ string, _ map[string]any) {
		go func() {
			_, _ = w.b.callRemote(ctx, cmd, "update", Tuple{[]any{[]any{map[string]any{"stdout": "out\n"}, 0}}}, nil)
			<-release
			_, _ = w.b.callRemote(ctx, cmd, "complete", nil, nil)
		}()
	}
	s := seenSink{newSink(), make(chan string, 4)}
	if err := c.StartCommand(ctx, wireCommand("1", "b1", "shell", nil, s)); err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-s.seen:
		if k != "stdout" {
			t.Errorf("first update %q, want stdout", k)
		}
	case <-time.After(30 * time.Second): // a hang guard only
		t.Error("the lone update did not reach the Sink while the worker sent nothing more")
	}
	close(release)
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
}
