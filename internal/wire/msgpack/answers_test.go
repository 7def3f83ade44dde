package msgpack

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
)

// gateConn is a connection whose next write, once armed, tells on blocked
// and waits for release.
type gateConn struct {
	net.Conn
	armed   atomic.Bool
	blocked chan struct{}
	release chan struct{}
}

func (c *gateConn) Write(b []byte) (int, error) {
	if c.armed.Swap(false) {
		close(c.blocked)
		<-c.release
	}
	return c.Conn.Write(b)
}

// An answer the reader queues while the holder of wmu is past writing the
// queued answers, but has not released wmu yet, is written by that holder
// after it releases wmu (unlockWrite looks again), not left queued until
// some later write.
func TestAnswerQueuedAsAWriteEndsIsWritten(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m := serveMaster(t, ServerOptions{Logger: log}, nil)

	gate := &gateConn{blocked: make(chan struct{}), release: make(chan struct{})}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		gate.Conn = c
		return gate, err
	}
	c, err := Dial(testCtx(t), m.url, "w1", "pa:ss", newGoWorker(), DialOptions{Logger: log, netDial: dial})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	p := c.p

	// A write under way leaves a frame held, which the reader wants
	// written: unlockWrite writes it after the (no) queued answers.
	held, err := p.encode(frame{"op": "response", "seq_number": 1000})
	if err != nil {
		t.Fatal(err)
	}
	p.wmu.Lock()
	if err := p.writeLocked(held, "response", true); err != nil {
		t.Fatal(err)
	}
	p.flushWanted.Store(true)
	gate.armed.Store(true)
	unlocked := make(chan error, 1)
	go func() { unlocked <- p.unlockWrite() }()
	recv(t, gate.blocked, "the held frame's write")

	// The reader answers meanwhile and finds wmu taken.
	answer, err := p.encode(frame{"op": "response", "seq_number": 1001})
	if err != nil {
		t.Fatal(err)
	}
	p.answers.add(answer)
	if p.wmu.TryLock() {
		t.Fatal("wmu free while a write is under way")
	}
	close(gate.release)
	if err := recv(t, unlocked, "unlockWrite's return"); err != nil {
		t.Fatal(err)
	}
	if p.answers.queued.Load() {
		t.Error("the answer queued while the write ended is still queued")
	}
}

// The queue reports itself full past maxQueuedAnswers answers or
// maxQueuedAnswerBytes bytes, so that the reader then waits for wmu.
func TestAnswersFullPastTheirBounds(t *testing.T) {
	var a answers
	for i := range maxQueuedAnswers {
		if a.add([]byte("x")) {
			t.Fatalf("full at %d answers of one byte", i+1)
		}
	}
	if !a.add([]byte("x")) {
		t.Errorf("not full at %d answers", maxQueuedAnswers+1)
	}
	q := a.take()
	if len(q) != maxQueuedAnswers+1 || a.queued.Load() {
		t.Fatalf("took %d answers, queued %v; want %d and false", len(q), a.queued.Load(), maxQueuedAnswers+1)
	}
	a.giveBack(q)
	if a.add(make([]byte, maxQueuedAnswerBytes)) {
		t.Error("full at maxQueuedAnswerBytes")
	}
	if !a.add([]byte("x")) {
		t.Error("not full past maxQueuedAnswerBytes")
	}
}
