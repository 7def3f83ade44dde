package eventstream

import (
	"sync/atomic"
	"time"

	"github.com/buildmaster/buildmaster/internal/mq"
)

// FlushInterval is how long a stream's writer waits, after the first
// event queued to it, before it sends that event and every one queued
// behind it in one write; after a write, the events that come wait for
// the end of the next interval. With more than 1,000
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
// writev (frameConn.writeFrames).
//
// The writer sleeps on wake. The first event queued to its subscription
// after the writer found the queue empty puts the batch on the Server's
// flush clock (schedule, called by the bus), due wait() later, or at the
// end of the writer's rest if it wrote less than wait() ago; the clock
// wakes the writer then, and it takes every event queued meanwhile from
// its subscription at once (take, mq.Subscription.Take). So a stream of
// events costs the publisher an append per event and the writer one
// wake-up per batch, and a writer with nothing to send is never woken.
// Its fields are the writer's alone but restUntil (read by schedule).
type batch struct {
	sub     *mq.Subscription
	taken   []*mq.Event // room for Take, handed back and forth with the queue's
	classes classes
	enc     *mq.Encoding         // what the stream sends of an event
	wait    func() time.Duration // how long a batch waits (Server.flushInterval)
	clock   *flushClock
	wake    chan struct{} // the stream's (stream.wake)
	frames  [][]byte      // to send, in order; nobody may modify them

	restUntil atomic.Int64 // clock time (ns, clock.now()): the last write's plus wait()
}

// subscribe makes st's subscription and the batch that takes its events.
func (s *Server) subscribe(st *stream, v Viewer, enc *mq.Encoding) (*mq.Subscription, *batch) {
	b := &batch{classes: classes{viewer: v}, enc: enc, wait: s.flushInterval, clock: s.clock, wake: st.wake}
	b.sub = s.bus.SubscribeFunc(st.ctx, s.limits.Buffer, b.schedule)
	return b.sub, b
}

// schedule puts the batch on the clock (due). The bus calls it as it
// queues the first event after the writer found its queue empty.
func (b *batch) schedule() {
	b.clock.schedule(b.wake, b.due(b.clock.now()))
}

// due is when (clock time) a batch whose first event comes at clock time
// now is sent: wait() later, or at the end of the writer's rest if that
// is sooner.
func (b *batch) due(now time.Duration) time.Duration {
	at := now + b.wait()
	if r := time.Duration(b.restUntil.Load()); r > now && r < at {
		return r
	}
	return at
}

// take adds the events queued now: it takes until it finds the queue
// empty, or has taken a queue's worth (maxBatchKeep: a publisher faster
// than the writer cannot hold a batch back forever; the batch is then
// put on the clock again, as the bus will not). A queue found empty is
// one whose next event puts the batch on the clock (schedule).
func (b *batch) take() {
	for n := 0; n < maxBatchKeep; n += len(b.taken) {
		b.taken = b.sub.Take(b.taken)
		if len(b.taken) == 0 {
			return
		}
		for _, ev := range b.taken {
			if b.classes.allowed(ev) {
				b.frames = append(b.frames, ev.Encoded(b.enc))
			}
		}
		clear(b.taken)
	}
	b.clock.schedule(b.wake, b.clock.now()+b.wait())
}

// send writes the batch's frames with write, in one call, and starts the
// writer's rest: events that come in the next wait() leave at its end.
// It lets go of the frames (write may not keep them) and keeps their
// room for the next batch unless it held more than maxBatchKeep.
func (b *batch) send(write func(frames [][]byte) error) error {
	b.restUntil.Store(int64(b.clock.now() + b.wait()))
	err := write(b.frames)
	clear(b.frames)
	if cap(b.frames) > maxBatchKeep {
		b.frames = nil
	} else {
		b.frames = b.frames[:0]
	}
	return err
}
