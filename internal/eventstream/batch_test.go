package eventstream

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/mq"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// bareClient is a testkit.WebSocket client of ts consuming path, its
// startConsuming answered.
func (ts *testServer) bareClient(t *testing.T, path string) *testkit.WebSocket {
	t.Helper()
	ws, err := testkit.DialWebSocket(t.Context(), "ws"+strings.TrimPrefix(ts.url, "http")+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.Send(fmt.Appendf(nil, `{"cmd":"startConsuming","path":%q,"_id":1}`, path)); err != nil {
		t.Fatal(err)
	}
	for {
		frames, err := ws.Read()
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) > 0 {
			if got := string(frames[0]); len(frames) != 1 || got != `{"msg":"OK","code":200,"_id":1}` {
				t.Fatalf("answer to startConsuming: %q", frames)
			}
			return ws
		}
	}
}

// Events that come together reach the client in one write, in order:
// the client's read, waiting before they are sent, returns them all. The
// writer is held (an injected fault) in its check of the first event
// until the others are queued, so that they come together whatever the
// load; a writer that sent the first at once would show 1 frame.
func TestQueuedEventsInOneWrite(t *testing.T) {
	a := &blockingAuthz{entered: make(chan struct{}), release: make(chan struct{})}
	ts := start(t, Options{Authorizer: a})
	ws := ts.bareClient(t, "builds/*/*")
	const n = 10
	var want []string
	for i := range n {
		key := fmt.Sprintf("builds/%d/new", i)
		ts.publish(t, key, "", fmt.Sprintf(`{"buildid":%d}`, i))
		want = append(want, fmt.Sprintf(`{"k":"%s","m":{"buildid":%d}}`, key, i))
		if i == 0 {
			testkit.Recv(t, "the writer holds the first event", a.entered)
		}
	}
	read := make(chan []string, 1)
	go func() {
		frames, err := ws.Read()
		if err != nil {
			t.Error(err)
		}
		var got []string
		for _, f := range frames {
			got = append(got, string(f))
		}
		read <- got
	}()
	close(a.release)
	got := testkit.Recv(t, "the client's read", read)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("one read returned %d frames:\n%s\nwant %d:\n%s", len(got), strings.Join(got, "\n"), n, strings.Join(want, "\n"))
	}
}

// A command's answer follows the events published before the command,
// even while they wait for their batch (the answer sends them with it).
func TestAnswerAfterQueuedEvents(t *testing.T) {
	ts := start(t, Options{})
	ws := ts.bareClient(t, "builds/*/*")
	ts.publish(t, "builds/1/new", "", `{}`)
	ts.publish(t, "builds/2/new", "", `{}`)
	if err := ws.Send([]byte(`{"cmd":"ping","_id":2}`)); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for len(got) < 3 {
		frames, err := ws.Read()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			got = append(got, bytes.Clone(f))
		}
	}
	want := "{\"k\":\"builds/1/new\",\"m\":{}}\n{\"k\":\"builds/2/new\",\"m\":{}}\n{\"msg\":\"pong\",\"code\":200,\"_id\":2}"
	if s := string(bytes.Join(got, []byte("\n"))); s != want {
		t.Fatalf("frames:\n%s\nwant:\n%s", s, want)
	}
}

// Past WriteRate×FlushInterval streams, each stream's batches wait
// streams÷WriteRate, WebSocket and SSE streams alike, and FlushInterval
// again once they have gone.
func TestFlushIntervalGrowsWithStreams(t *testing.T) {
	ts := start(t, Options{Limits: Limits{WriteRate: 100}})
	ts.bareClient(t, "builds/*/*")
	if got := ts.srv.flushInterval(); got != FlushInterval {
		t.Fatalf("1 stream at 100 writes/s: wait %v, want FlushInterval (%v)", got, FlushInterval)
	}
	others := []*testkit.WebSocket{ts.bareClient(t, "builds/*/*"), ts.bareClient(t, "builds/*/*")}
	ts.listen(t, "/listen/builds/*/*", nil)
	testkit.Eventually(t, "4 streams open", func() bool { return ts.srv.Stats().WebSocketClients+ts.srv.Stats().SSEClients == 4 })
	if got := ts.srv.flushInterval(); got != 40*time.Millisecond {
		t.Fatalf("4 streams at 100 writes/s: wait %v, want 40ms", got)
	}
	for _, ws := range others {
		ws.Close()
	}
	testkit.Eventually(t, "2 streams open", func() bool { return ts.srv.Stats().WebSocketClients+ts.srv.Stats().SSEClients == 2 })
	if got := ts.srv.flushInterval(); got != FlushInterval {
		t.Fatalf("2 streams at 100 writes/s: wait %v, want FlushInterval (%v)", got, FlushInterval)
	}
}

// testBatch is a batch of a subscription to builds/*/* on bus, as a
// stream's, on a clock of its own; wait is its wait.
func testBatch(t *testing.T, bus *mq.Bus, enc *mq.Encoding, wait func() time.Duration) *batch {
	t.Helper()
	b := &batch{classes: classes{viewer: allowAll{}}, enc: enc, wait: wait, clock: newFlushClock(time.Second), wake: make(chan struct{}, 1)}
	b.sub = bus.SubscribeFunc(t.Context(), 16, b.schedule)
	if _, err := b.sub.Add(mq.Filter{"builds", mq.Wildcard, mq.Wildcard}); err != nil {
		t.Fatal(err)
	}
	return b
}

// onClock is how many batches wait on c.
func onClock(c *flushClock) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// A batch asks how long to wait when its first event comes and when the
// next batch starts (send), so that the wait follows the streams open.
func TestBatchAsksItsWait(t *testing.T) {
	bus := mq.New()
	defer bus.Close()
	asked := 0
	b := testBatch(t, bus, mq.NewEncoding(encodeWSEvent), func() time.Duration { asked++; return time.Hour })
	if err := bus.Publish(mq.Key{"builds", "1", "new"}, "", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if asked != 1 || onClock(b.clock) != 1 {
		t.Fatalf("after the first event: asked %d times, %d on the clock; want 1, 1", asked, onClock(b.clock))
	}
	b.take()
	if err := b.send(func([][]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if asked != 2 {
		t.Fatalf("after send: asked %d times, want 2", asked)
	}
}

// The events queued behind the first one put the batch on the clock no
// more: it is woken once, when due, and takes them all; a batch sent
// with nothing queued behind it is not on the clock (its writer sleeps
// until an event comes), and the first event after it puts it back.
func TestBatchWokenOncePerBatch(t *testing.T) {
	bus := mq.New()
	defer bus.Close()
	b := testBatch(t, bus, mq.NewEncoding(encodeWSEvent), func() time.Duration { return time.Millisecond })
	for i := range 5 {
		if err := bus.Publish(mq.Key{"builds", fmt.Sprint(i), "new"}, "", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// The bus puts the batch on the clock (schedule) at each wake-up; the
	// clock may already have woken the writer, so count the wake-ups.
	if st := bus.Stats(); st.Wakeups != 1 {
		t.Fatalf("5 events: the batch was put on the clock %d times, want once", st.Wakeups)
	}
	testkit.Recv(t, "the batch due", b.wake)
	b.take()
	if len(b.frames) != 5 {
		t.Fatalf("took %d frames, want 5", len(b.frames))
	}
	if err := b.send(func([][]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the clock stops", func() bool {
		b.clock.mu.Lock()
		defer b.clock.mu.Unlock()
		return !b.clock.running
	})
	select {
	case <-b.wake:
		t.Fatal("a writer with nothing to send was woken")
	default:
	}
	if err := bus.Publish(mq.Key{"builds", "9", "new"}, "", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, "the next batch due", b.wake)
	if st := bus.Stats(); st.Wakeups != 2 {
		t.Fatalf("bus stats %+v, want 2 wake-ups", st)
	}
}

// The first event after a write waits for the end of the writer's rest
// if it is nearer than a whole wait, and a whole wait otherwise.
func TestBatchDueAtTheEndOfItsRest(t *testing.T) {
	bus := mq.New()
	defer bus.Close()
	b := testBatch(t, bus, mq.NewEncoding(encodeWSEvent), func() time.Duration { return 20 * time.Millisecond })
	now := b.clock.now()
	b.restUntil.Store(int64(now + 5*time.Millisecond))
	if got := b.due(now); got != now+5*time.Millisecond {
		t.Errorf("resting 5 ms more: due in %v, want 5ms", got-now)
	}
	b.restUntil.Store(int64(now - time.Millisecond))
	if got := b.due(now); got != now+20*time.Millisecond {
		t.Errorf("rested: due in %v, want 20ms", got-now)
	}
}

// The clock wakes each writer once, at its tick or after, and stops
// turning once no batch waits.
func TestFlushClockWakesEachOnce(t *testing.T) {
	c := newFlushClock(100 * time.Millisecond)
	now := c.now()
	wakes := make([]chan struct{}, 3)
	at := func(i int) time.Duration { return time.Duration(i)*5*time.Millisecond + 2500*time.Microsecond } // mid-tick
	for i := range wakes {
		wakes[i] = make(chan struct{}, 1)
		c.schedule(wakes[i], now+at(i))
	}
	late := make(chan struct{}, 1)
	c.schedule(late, now+time.Hour) // past the wheel's span: at its end
	for i, w := range wakes {
		testkit.Recv(t, fmt.Sprintf("writer %d woken", i), w)
		if since := c.now() - now; since < at(i) {
			t.Errorf("writer %d woken after %v, before its time (%v)", i, since, at(i))
		}
	}
	testkit.Recv(t, "a writer due past the span woken, at its end", late)
	testkit.Eventually(t, "the clock stops", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.running && c.n == 0
	})
}

// A batch hands its writer the events' own frames, shared with every
// stream (no copy), in order, and lets go of them once written.
func TestBatchSendsSharedFramesAndLetsGo(t *testing.T) {
	bus := mq.New()
	defer bus.Close()
	other := bus.Subscribe(t.Context(), 4) // sees the same events
	if _, err := other.Add(mq.Filter{"builds", mq.Wildcard, mq.Wildcard}); err != nil {
		t.Fatal(err)
	}
	enc := mq.NewEncoding(encodeWSEvent)
	b := testBatch(t, bus, enc, func() time.Duration { return time.Hour })
	for _, id := range []string{"1", "2"} {
		if err := bus.Publish(mq.Key{"builds", id, "new"}, "", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	b.take()
	events := other.Take(nil)
	var got [][]byte
	if err := b.send(func(frames [][]byte) error { got = append(got, frames...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("wrote %d frames, want 2", len(got))
	}
	for i, ev := range events {
		if shared := ev.Encoded(enc); &got[i][0] != &shared[0] || len(got[i]) != len(shared) {
			t.Fatalf("frame %d is not the event's shared frame: %q", i, got[i])
		}
	}
	if len(b.frames) != 0 || slices.ContainsFunc(b.frames[:cap(b.frames)], func(f []byte) bool { return f != nil }) {
		t.Fatalf("after send the batch still holds %q", b.frames[:cap(b.frames)])
	}
}

// A clock's wheel is bounded whatever the limits make the longest wait
// (a WriteRate of 1 asks for hours): a slot per tick of maxClockSpan.
func TestFlushClockSpanBounded(t *testing.T) {
	if n := len(newFlushClock(1000 * time.Hour).slots); n > int(maxClockSpan/clockTick)+2 {
		t.Fatalf("a wheel of %d slots for a wait of 1,000 h", n)
	}
}
