package worker

import (
	"sync"
	"testing"
	"time"
)

// eventLog is an append-only list of events that tests wait on.
type eventLog[E any] struct {
	mu      sync.Mutex
	events  []E
	changed chan struct{} // closed and replaced on each change
	closed  bool
}

func newEventLog[E any]() *eventLog[E] { return &eventLog[E]{changed: make(chan struct{})} }

func (l *eventLog[E]) add(e E) {
	l.mu.Lock()
	l.events = append(l.events, e)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *eventLog[E]) close() {
	l.mu.Lock()
	l.closed = true
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *eventLog[E]) all() []E {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]E(nil), l.events...)
}

// wait returns the first event from index from on that match accepts,
// failing the test after timeout. match sees each event once, in order.
func (l *eventLog[E]) wait(t *testing.T, what string, from int, timeout time.Duration, match func(E) bool) E {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	i := from
	for {
		l.mu.Lock()
		evs, changed, closed := l.events, l.changed, l.closed
		l.mu.Unlock()
		for ; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i]
			}
		}
		if closed {
			t.Fatalf("waiting for %s: the process ended", what)
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waiting for %s: nothing after %s", what, timeout)
		}
	}
}
