package pb

import (
	"errors"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// Start returns without waiting for the worker's answer (no goroutine
// waits for it): here the worker answers only once the test has seen
// Start return.
func TestStartDoesNotWaitForTheAnswer(t *testing.T) {
	_, w, c, _ := loggedIn(t, Config{})
	gate := make(chan struct{})
	started := make(chan string, 1)
	w.bot.start = func(_ RemoteRef, id, _ string, _ map[string]any) {
		<-gate // the worker's read loop, and so its answer, waits
		started <- id
	}
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()
	s := newSink()
	returned := make(chan struct{})
	go func() {
		c.Start(wireCommand("1", "b1", "shell", map[string]any{"command": "true"}, s))
		close(returned)
	}()
	testkit.Recv(t, "return from Start while the worker has not answered", returned)
	close(gate)
	if id := testkit.Recv(t, "the command on the worker", started); id != "1" {
		t.Errorf("the worker started %q", id)
	}
}

// A refusal of a command started with Start completes its Sink with the
// error StartCommand would return.
func TestStartRefusedCompletesTheSink(t *testing.T) {
	_, _, wc, _ := loggedIn(t, Config{})
	c := wc.(*conn)
	c.mu.Lock()
	c.builders["gone"] = RemoteRef(9999) // a reference the worker does not have
	c.mu.Unlock()
	s := newSink()
	c.Start(wireCommand("1", "gone", "shell", map[string]any{"command": "true"}, s))
	err := s.wait(t)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), `startCommand shell "1"`) {
		t.Errorf("Complete(%v), want the worker's failure of startCommand", err)
	}
}
