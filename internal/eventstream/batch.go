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
//
// The writer takes its events from the subscription's queue in bulk
// (mq.Subscription.Take) when a batch is due, and waits for the bus's
// wake-up (next) only when no batch waits: a stream of events costs the
// writer one wake-up per batch, its timer's, and the publisher an append
// per event.
type batch struct {
	sub     *mq.Subscription
	taken   []*mq.Event // room for Take, handed back and forth with the queue's
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
	return &batch{sub: sub, classes: classes{viewer: v}, enc: enc, wait: wait, timer: t}
}

// next is what the writer waits on for the first event of a batch: the
// subscription's wake-up, or nil while a batch waits, so that the events
// behind the first queue up without waking the writer.
func (b *batch) next() <-chan struct{} {
	if b.due != nil {
		return nil
	}
	return b.sub.Ready()
}

// take adds the events queued now: it takes until it finds the queue
// empty, or has taken a queue's worth (maxBatchKeep: a publisher faster
// than the writer cannot hold a batch back forever). If no batch waits
// and there is something to send, or the queue was not found empty (its
// events all of classes the stream may not see), the wait starts (due
// fires wait() later). It reports whether it found the queue empty: the
// bus then wakes the writer (next) when the next event comes.
func (b *batch) take() (empty bool) {
	for n := 0; n < maxBatchKeep; n += len(b.taken) {
		b.taken = b.sub.Take(b.taken)
		if len(b.taken) == 0 {
			empty = true
			break
		}
		for _, ev := range b.taken {
			if b.classes.allowed(ev) {
				b.frames = append(b.frames, ev.Encoded(b.enc))
			}
		}
		clear(b.taken)
	}
	if b.due == nil && (len(b.frames) > 0 || !empty) {
		b.timer.Reset(b.wait())
		b.due = b.timer.C
	}
	return empty
}

// ready is called when the batch is due: it takes the events queued now
// and reports whether there is a batch to send. A batch holding nothing
// ends the wait if no event came in it (the writer waits for the next
// one, next), and waits again if the events that came were all held back.
func (b *batch) ready() bool {
	empty := b.take()
	switch {
	case len(b.frames) > 0:
		return true
	case empty:
		b.due = nil
	default:
		b.timer.Reset(b.wait())
	}
	return false
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
