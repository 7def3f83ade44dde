package pb

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
)

// sendTogether sends the calls on obj in one write, as buildbot-worker
// sends a fast command's updates and its complete; it returns the
// channels of their answers.
func (w *goWorker) sendTogether(obj RemoteRef, calls []Tuple, methods []string) []chan result {
	objs := make([]RemoteRef, len(calls))
	for i := range objs {
		objs[i] = obj
	}
	return w.sendEachTogether(objs, calls, methods)
}

// sendEachTogether is sendTogether with each call on its own object.
func (w *goWorker) sendEachTogether(objs []RemoteRef, calls []Tuple, methods []string) []chan result {
	b := w.b
	b.wmu.Lock()
	defer b.wmu.Unlock()
	var buf []byte
	var answers []chan result
	for i, args := range calls {
		ch := make(chan result, 1)
		b.mu.Lock()
		b.nextReq++
		id := b.nextReq
		b.pending[id] = func(r result) { ch <- r }
		b.mu.Unlock()
		var err error
		if buf, err = appendMessage(buf, b.vocab, id, objs[i], methods[i], args, nil); err != nil {
			w.t.Fatal(err)
		}
		answers = append(answers, ch)
	}
	if _, err := b.nc.Write(buf); err != nil {
		w.t.Fatal(err)
	}
	return answers
}

// A stock worker sends a fast command's updates (one key each) and its
// complete in one segment: the master hands the updates to the Sink in
// one call, in order, and answers the four calls in one write.
func TestCallsThatCameTogetherAreAnsweredTogether(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	counted := &hookedWrites{Listener: l, hook: func() error { writes.Add(1); return nil }}
	ts := startServerOn(t, Config{}, counted)
	w := dialGo(t, ts.addr)
	if _, err := w.login("w1", "pass1"); err != nil {
		t.Fatal(err)
	}
	c := ts.next(t)
	if err := c.SetBuilderList(context.Background(), map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	answered := make(chan []result, 1)
	w.bot.start = func(cmd RemoteRef, _, _ string, _ map[string]any) {
		update := func(key string, v any) Tuple { return Tuple{[]any{[]any{map[string]any{key: v}, 0}}} }
		chans := w.sendTogether(cmd,
			[]Tuple{update("header", "true\n"), update("rc", 0), update("elapsed", 0.5), {nil}},
			[]string{"update", "update", "update", "complete"})
		go func() {
			var rs []result
			for _, ch := range chans {
				rs = append(rs, <-ch)
			}
			answered <- rs
		}()
	}
	s := newSink()
	before := writes.Load()
	if err := c.StartCommand(context.Background(), wireCommand("1", "b1", "shell", map[string]any{"command": "true"}, s)); err != nil {
		t.Fatal(err)
	}
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
	rs := <-answered
	for i, r := range rs {
		if r.err != nil || (i < 3 && r.v != int64(0)) || (i == 3 && r.v != nil) {
			t.Errorf("answer %d: %v, %v", i, r.v, r.err)
		}
	}
	// startCommand, then the four answers.
	if got := writes.Load() - before; got != 2 {
		t.Errorf("the master wrote %d times, want 2 (startCommand, the four answers)", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for _, u := range s.updates {
		keys = append(keys, u.Key)
	}
	if s.updateCalls != 1 || len(keys) != 3 || keys[0] != "header" || keys[1] != "rc" || keys[2] != "elapsed" {
		t.Errorf("the Sink got %d Update calls of %v, want 1 of [header rc elapsed]", s.updateCalls, keys)
	}
}
