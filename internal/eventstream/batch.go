package eventstream

import (
	"time"

	"github.com/buildmaster/buildmaster/internal/mq"
)

// FlushInterval is how long a stream's writer waits, after the first
// event it takes from its queue, before it sends that event and every one
// queued behind it in one write; after a write, the events that come
// wait for the end of the next interval. The write (a system call, and
// the writer's wake-up) is most of what an event costs the master per
// client; at 100 builds/s a client watching Home gets some 500 events a
// second, which leave in at most 50 writes instead of 500.
//
// The budget it spends: an event must reach a browser within 100 ms of
// the state change (issue 15). The commit and the publication take about
// 1 ms; the wait up to 20; the writes of a thousand clients due at about
// the same time take about 10 ms of one core; the rest is the network's
// and the browser's. Answers to a client's commands do not wait: they
// leave at once, after the events queued before them.
const FlushInterval = 20 * time.Millisecond

// maxBatchKeep is the largest batch buffer a stream keeps between writes.
const maxBatchKeep = 64 << 10

// A batch gathers, for one stream's writer, the encoded events it may
// see (and the writer's own frames), to be sent in one write. It is used
// by the writer alone.
type batch struct {
	events  <-chan *mq.Event
	classes classes
	enc     *mq.Encoding // what the stream sends of an event
	buf     []byte
	timer   *time.Timer
	due     <-chan time.Time // timer.C while a batch waits; nil otherwise
}

func newBatch(sub *mq.Subscription, v Viewer, enc *mq.Encoding) *batch {
	t := time.NewTimer(FlushInterval)
	t.Stop()
	return &batch{events: sub.Events(), classes: classes{viewer: v}, enc: enc, timer: t}
}

// next is what the writer waits on for the first event of a batch: the
// queue, or nil while a batch waits, so that the events behind the first
// queue up without waking the writer.
func (b *batch) next() <-chan *mq.Event {
	if b.due != nil {
		return nil
	}
	return b.events
}

// add appends ev's encoding if the stream may see it; the first event
// taken while no batch waits starts the wait (due fires FlushInterval
// later).
func (b *batch) add(ev *mq.Event) {
	if !b.classes.allowed(ev) {
		return
	}
	b.buf = append(b.buf, ev.Encoded(b.enc)...)
	if b.due == nil {
		b.timer.Reset(FlushInterval)
		b.due = b.timer.C
	}
}

// drain adds the events queued now, at most a queue's worth (a publisher
// faster than the writer cannot hold a batch back forever); false when
// the subscription has ended.
func (b *batch) drain() bool {
	for range cap(b.events) {
		select {
		case ev, ok := <-b.events:
			if !ok {
				return false
			}
			b.add(ev)
		default:
			return true
		}
	}
	return true
}

// ready is what the writer writes when the batch is due: the events
// queued now are added (drain), and the batch taken (take); nil when it
// holds nothing (no event came in the last FlushInterval), which ends the
// wait, and the writer waits for the next event (next). False when the
// subscription has ended.
func (b *batch) ready() (out []byte, ok bool) {
	if !b.drain() {
		return nil, false
	}
	if len(b.buf) == 0 {
		b.timer.Stop()
		b.due = nil
		return nil, true
	}
	return b.take(), true
}

// take returns the batch, to be written before the next add, and starts
// the next one, due FlushInterval later: a writer that streams events
// wakes once per interval, not also for the first event of each batch.
func (b *batch) take() []byte {
	out := b.buf
	if cap(b.buf) > maxBatchKeep {
		b.buf = nil
	} else {
		b.buf = b.buf[:0]
	}
	b.timer.Reset(FlushInterval)
	b.due = b.timer.C
	return out
}
