package msgpack

import (
	"sync"
	"sync/atomic"
)

// Bounds of the answers queued while a write is under way. Beyond them the
// reader waits for the write (peer.respond): backpressure against a peer
// that floods requests while it does not read what this side writes.
const (
	maxQueuedAnswers     = 1000
	maxQueuedAnswerBytes = 1 << 20
)

// answers are the reader's encoded answers that wait for the write under
// way: the reader never waits for wmu below the bounds above, and
// whoever holds wmu writes them, in the order they were added, before
// releasing it (peer.unlockWrite).
type answers struct {
	mu     sync.Mutex
	queue  [][]byte
	size   int         // bytes in queue
	spare  [][]byte    // the slice last taken, reused for queue
	queued atomic.Bool // queue is not empty; read without mu
}

// add queues the encoded answer b; it reports whether the queue is over
// its bounds.
func (a *answers) add(b []byte) (full bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queue = append(a.queue, b)
	a.size += len(b)
	a.queued.Store(true)
	return len(a.queue) > maxQueuedAnswers || a.size > maxQueuedAnswerBytes
}

// take returns the queued answers, oldest first, and queues none after;
// nil when none is queued. The caller holds wmu, and gives the slice back
// (giveBack) once written.
func (a *answers) take() [][]byte {
	if !a.queued.Load() {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.queue
	a.queue, a.spare, a.size = a.spare, nil, 0
	a.queued.Store(false)
	return q
}

// giveBack keeps q, returned by take and written, for reuse.
func (a *answers) giveBack(q [][]byte) {
	if q == nil {
		return
	}
	clear(q)
	a.mu.Lock()
	if a.spare == nil {
		a.spare = q[:0]
	}
	a.mu.Unlock()
}
