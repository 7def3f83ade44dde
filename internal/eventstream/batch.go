package eventstream

import (
	"time"

	"github.com/buildmaster/buildmaster/internal/mq"
)

// FlushInterval is how long a stream's writer waits at least, after the
// first event it takes from its queue, before it sends that event and
// every one queued behind it in one write; after a write, the events that
// come wait for the end of the next interval. With more than 1,000
// clients the wait is longer (Limits.WriteRate). The write (a system
// call, and the writer's wake-up) is most of what an event costs the
// master per client; at 100 builds/s a client watching Home gets some 500
// events a second, which leave in at most 50 writes instead of 500.
//
// The budget it spends: an event must reach a browser within 100 ms of
// the state change (issue 15). The commit and the publication take about
// 1 ms; the wait up to 20; the writes of a thousand clients due at about
// the same time take about 10 ms of one core; the rest is the network's
// and the browser's. Answers to a client's commands do not wait: they
// leave at once, after the events queued before them.
const FlushInterval = 20 * time.Millisecond

// maxBatchKeep is the most frames whose room a batch keeps between
// writes.
const maxBatchKeep = 1024

// A batch gathers, for one stream's writer, the encoded events it may
// see (and the writer's own frames), to be sent in one write. It holds
// the frames themselves, the events' shared by every stream (mq.Event.
// Encoded), not a copy of their bytes: a WebSocket writes them with one
// writev (frameConn.writeFrames). It is used by the writer alone.
type batch struct {
	events  <-chan *mq.Event
	classes classes
	enc     *mq.Encoding         // what the stream sends of an event
	wait    func() time.Duration // how long a batch waits (Server.flushInterval)
	frames  [][]byte             // to send, in order; nobody may modify them
	timer   *time.Timer
	due     <-chan time.Time // timer.C while a batch waits; nil otherwise
}

func newBatch(sub *mq.Subscription, v Viewer, enc *mq.Encoding, wait func() time.Duration) *batch {
	t := time.NewTimer(FlushInterval)
	t.Stop()
	return &batch{events: sub.Events(), classes: classes{viewer: v}, enc: enc, wait: wait, timer: t}
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

// add appends ev's frame if the stream may see it; the first event
// taken while no batch waits starts the wait (due fires wait() later).
func (b *batch) add(ev *mq.Event) {
	if !b.classes.allowed(ev) {
		return
	}
	b.frames = append(b.frames, ev.Encoded(b.enc))
	if b.due == nil {
		b.timer.Reset(b.wait())
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

// ready is called when the batch is due: it adds the events queued now
// (drain) and reports whether there is a batch to send; a batch holding
// nothing (no event came in the last wait) ends the wait, and the writer
// waits for the next event (next). ok is false when the subscription has
// ended.
func (b *batch) ready() (send, ok bool) {
	if !b.drain() {
		return false, false
	}
	if len(b.frames) == 0 {
		b.timer.Stop()
		b.due = nil
		return false, true
	}
	return true, true
}

// send writes the batch's frames with write, in one call, and starts
// the next batch, due wait() later: a writer that streams events wakes
// once per wait, not also for the first event of each batch. It lets go
// of the frames (write may not keep them) and keeps their room for the
// next batch unless it held more than maxBatchKeep.
func (b *batch) send(write func(frames [][]byte) error) error {
	b.timer.Reset(b.wait())
	b.due = b.timer.C
	err := write(b.frames)
	clear(b.frames)
	if cap(b.frames) > maxBatchKeep {
		b.frames = nil
	} else {
		b.frames = b.frames[:0]
	}
	return err
}
