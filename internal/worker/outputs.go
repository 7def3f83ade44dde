package worker

import (
	"cmp"
	"sync"
	"time"

	"github.com/buildmaster/buildmaster/messages"
)

// outputHold is how long a command's output may wait to be sent with what
// follows it: a command that ends sooner sends its whole output with its
// complete, in one message.
const outputHold = 100 * time.Millisecond

// outputs gathers a command's output into updates: what comes within
// outputHold of the first piece not yet sent goes in one update (of at most
// outputChunk bytes), and take hands what is left to the complete. Its
// sends are serialised, so output reaches the master in order and before
// the complete.
type outputs struct {
	c       *command
	hold    time.Duration // 0: outputHold
	mu      sync.Mutex
	pending []*messages.Output
	size    int
	timer   *time.Timer
	done    bool // taken: nothing more is sent
}

// add queues data (not retained) of stream s.
func (o *outputs) add(s messages.OutputStream, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	if o.size+len(data) > outputChunk {
		o.sendLocked()
	}
	o.pending = append(o.pending, &messages.Output{Stream: s, Data: data})
	o.size += len(data)
	if o.timer == nil {
		o.timer = time.AfterFunc(cmp.Or(o.hold, outputHold), o.flush)
	}
}

func (o *outputs) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done {
		o.sendLocked()
	}
}

func (o *outputs) sendLocked() {
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	if len(o.pending) > 0 {
		o.c.link.update(&messages.CommandUpdate{CommandId: o.c.id, Outputs: o.pending})
		o.pending, o.size = nil, 0
	}
}

// take returns the output not sent yet, and sends nothing more.
func (o *outputs) take() []*messages.Output {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	o.done = true
	p := o.pending
	o.pending = nil
	return p
}
