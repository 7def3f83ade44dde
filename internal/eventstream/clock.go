package eventstream

import (
	"sync"
	"time"
)

// clockTick is the flush clock's resolution: a batch is due at most this
// much after its time.
const clockTick = time.Millisecond

// A flushClock wakes the writers of the streams whose batch is due, for
// all the streams of a Server: a timing wheel of clockTick slots, turned
// by one goroutine that runs only while a batch waits. A stream is in the
// wheel only while it has events waiting (its subscription's wake-up,
// mq.Bus.SubscribeFunc, puts it there), so that a writer is woken once
// per batch, when it is due, and never when nothing came; each writer
// still writes its own batch, so that the writes of many clients run on
// every core and a stuck client holds up no one else.
//
// It reads the monotonic clock only (durations since its epoch, "clock
// time"), never the wall clock, so that a step of the wall clock (NTP, a
// resumed VM) cannot hold a stream's events back.
type flushClock struct {
	epoch   time.Time // the clock's zero; clock time is the time since
	mu      sync.Mutex
	slots   [][]chan<- struct{} // writers' wake channels, by due tick modulo len(slots)
	next    int64               // the first tick not yet run
	n       int                 // wake channels in the slots
	running bool                // the goroutine turns the wheel
}

// maxClockSpan bounds a flush clock's wheel (a slot per clockTick): a
// longer wait is brought back to it.
const maxClockSpan = 10 * time.Second

// newFlushClock returns a clock for waits up to maxWait (at most
// maxClockSpan).
func newFlushClock(maxWait time.Duration) *flushClock {
	return &flushClock{epoch: time.Now(), slots: make([][]chan<- struct{}, min(maxWait, maxClockSpan)/clockTick+2)}
}

// now is the clock time now.
func (c *flushClock) now() time.Duration { return time.Since(c.epoch) }

// dueTick is the first tick at or after clock time t; nowTick the tick t
// is in.
func dueTick(t time.Duration) int64 { return int64((t + clockTick - 1) / clockTick) }
func nowTick(t time.Duration) int64 { return int64(t / clockTick) }

// schedule sends a wake-up on wake (without blocking) at the first tick
// at or after clock time at (c.now() plus a wait). A time past the
// wheel's span is brought back to its end. It never blocks for long: the
// bus calls it while it publishes.
func (c *flushClock) schedule(wake chan<- struct{}, at time.Duration) {
	t := dueTick(at)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		c.running = true
		c.next = nowTick(c.now())
		go c.run()
	}
	t = min(max(t, c.next), c.next+int64(len(c.slots))-1)
	s := &c.slots[t%int64(len(c.slots))]
	*s = append(*s, wake)
	c.n++
}

// run turns the wheel every clockTick, waking the writers whose ticks
// have come (all of them since the last turn, if it was late), until the
// wheel is empty.
func (c *flushClock) run() {
	t := time.NewTicker(clockTick)
	defer t.Stop()
	var due []chan<- struct{}
	for range t.C {
		tick := nowTick(c.now())
		c.mu.Lock()
		for ; c.next <= tick && c.n > 0; c.next++ {
			s := &c.slots[c.next%int64(len(c.slots))]
			due = append(due, *s...)
			c.n -= len(*s)
			clear(*s)
			*s = (*s)[:0]
		}
		done := c.n == 0
		c.running = !done
		c.mu.Unlock()
		for _, w := range due {
			select {
			case w <- struct{}{}:
			default: // awake already
			}
		}
		clear(due)
		due = due[:0]
		if done {
			return
		}
	}
}
