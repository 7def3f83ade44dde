package pbmanager

import (
	"fmt"
	"slices"
	"sync"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// outbox writes the calls of a connection whose order matters to the
// worker, each command's start and then its interrupt, in the order its
// actor queued them: one at a time, on a goroutine that runs while there
// is something to write. The actor never waits for the network (a worker
// that stops reading holds a write up to the write timeout), and the
// outbox never waits for the worker's answers (wire.Conn's Start and
// Interrupt return once the request is written). It holds at most a start
// and an interrupt for each open command of the connection.
type outbox struct {
	conn wire.Conn

	mu      sync.Mutex
	queue   []outgoing
	writing bool // a goroutine writes the queue
}

// outgoing is the start of command cmd, or its interrupt (interrupt set;
// cmd has its ID and Builder; answered gets the failure to send it or the
// worker's answer).
type outgoing struct {
	cmd       wire.Command
	interrupt bool
	why       string
	answered  func(error)
}

// start queues the start of wc.
func (o *outbox) start(wc wire.Command) {
	o.add(outgoing{cmd: wc})
}

// interrupt queues the interrupt of command id, after its start. When the
// start is still queued, neither is sent: the command completes at once
// with an error saying it was interrupted before it was sent.
func (o *outbox) interrupt(builder, id, why string, answered func(error)) {
	o.mu.Lock()
	i := slices.IndexFunc(o.queue, func(q outgoing) bool { return !q.interrupt && q.cmd.ID == id })
	if i < 0 {
		o.mu.Unlock()
		o.add(outgoing{cmd: wire.Command{ID: id, Builder: builder}, interrupt: true, why: why, answered: answered})
		return
	}
	wc := o.queue[i].cmd
	o.queue = slices.Delete(o.queue, i, i+1)
	o.mu.Unlock()
	wc.Sink.Complete(interruptedBeforeStart(why))
}

// interruptedBeforeStart is how a command interrupted before its start was
// sent completes.
func interruptedBeforeStart(why string) error {
	return fmt.Errorf("interrupted before it was sent to the worker: %s", why)
}

func (o *outbox) add(q outgoing) {
	o.mu.Lock()
	o.queue = append(o.queue, q)
	idle := !o.writing
	o.writing = true
	o.mu.Unlock()
	if idle {
		go o.write()
	}
}

// write sends what is queued, in order, until the queue is empty.
func (o *outbox) write() {
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.writing = false
			o.mu.Unlock()
			return
		}
		q := o.queue[0]
		o.queue[copy(o.queue, o.queue[1:])] = outgoing{}
		o.queue = o.queue[:len(o.queue)-1]
		o.mu.Unlock()
		if !q.interrupt {
			o.conn.Start(q.cmd)
			continue
		}
		if err := o.conn.Interrupt(q.cmd.Builder, q.cmd.ID, q.why, q.answered); err != nil {
			q.answered(err)
		}
	}
}
