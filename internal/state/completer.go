package state

import (
	"sync"

	"github.com/buildmaster/buildmaster/messages"
)

// maxInline bounds the SubmitAsync commands in flight (handed to raft, not
// yet completed) that are handed to raft on the caller's goroutine: raft's
// queue (MaxAppendEntries, 128) then has room, so the hand-over cannot
// block. Past it a goroutine hands the command over, as SubmitAsync never
// blocks its caller.
const maxInline = 64

// completer completes SubmitAsync's commands: one goroutine at a time
// waits for their Futures, in the order they were queued (nearly always
// the order raft applies them in: one that completes early waits only for
// those queued before it), and calls their dones. It runs while there
// are commands to complete and ends when there are none, so a Store keeps
// no goroutine of its own; commands that complete together (raft commits
// and applies them in batches) cost it one wake-up instead of one
// goroutine each.
type completer struct {
	mu       sync.Mutex
	queue    []pending // submitted, not yet waited for
	inFlight int       // SubmitAsync commands not yet completed
	running  bool      // the goroutine is running
}

// pending is a submitted command and what to call with its result.
type pending struct {
	f    *Future
	done func(*messages.CommandResult, error)
}

// reserve counts a command in flight, and reports whether the caller may
// hand it to raft on its own goroutine (fewer than maxInline in flight).
func (c *completer) reserve() (inline bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight++
	return c.inFlight <= maxInline
}

// add queues f, whose result goes to done, and starts the goroutine that
// completes the queue unless it runs.
func (c *completer) add(f *Future, done func(*messages.CommandResult, error)) {
	c.mu.Lock()
	c.queue = append(c.queue, pending{f, done})
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		go c.run()
	}
}

// run completes the queued commands in order until none is left.
func (c *completer) run() {
	var batch []pending
	for {
		c.mu.Lock()
		c.inFlight -= len(batch)
		clear(batch)
		if len(c.queue) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		// The two slices take turns, so that a steady stream allocates
		// nothing.
		batch, c.queue = c.queue, batch[:0]
		c.mu.Unlock()
		for _, p := range batch {
			p.done(p.f.Wait())
		}
	}
}
