package msgpack

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// countingConn counts the writes made on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

// TestFramesSentBackToBackShareAWrite: a command costs each side two
// writes to the socket. The master writes start_command, then its answers
// to the worker's update and complete together; the worker writes its
// answer to start_command, then the update and the complete together.
// (Written one by one, each side made three.)
func TestFramesSentBackToBackShareAWrite(t *testing.T) {
	var masterWrites, workerWrites atomic.Int64
	log := slog.New(slog.DiscardHandler)
	m := serveMaster(t, ServerOptions{Logger: log}, func(l net.Listener) net.Listener { return countingListener{l, &masterWrites} })
	conns := m.conns

	finish := make(chan struct{})
	finished := make(chan error, 1)
	w := newGoWorker()
	w.run = func(cmd *Command) {
		<-finish
		finished <- cmd.Finish(context.Background(), []wire.Update{{Key: "stdout", Text: "hi\n"}, {Key: "rc", Int: 0}}, nil)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, &workerWrites}, nil
	}
	c, err := Dial(testCtx(t), m.url, "w1", "pa:ss", w, DialOptions{Logger: log, netDial: dial})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	conn := recv(t, conns, "accepted connection")

	m0, w0 := masterWrites.Load(), workerWrites.Load()
	s := newSink()
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "c1", Name: "shell", Args: map[string]any{}, Sink: s}); err != nil {
		t.Fatal(err)
	}
	close(finish)
	if err := recv(t, finished, "the command's finish"); err != nil {
		t.Fatal(err)
	}
	if err := s.ended(t); err != nil {
		t.Fatal(err)
	}
	if m, w := masterWrites.Load()-m0, workerWrites.Load()-w0; m != 2 || w != 2 {
		t.Errorf("a command: the master wrote %d times, the worker %d; want 2 and 2", m, w)
	}
}

// flushHeld, which the reader calls before it reads, does not wait for a
// write under way (which may itself wait for this side to read); that
// write then writes what is held.
func TestFlushHeldDoesNotWaitForAWrite(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	p := newPeer(nil, slog.New(slog.DiscardHandler), nil, 0, 0)
	c := newHeldConn(a)
	p.holdOn(c)
	c.setHold(true)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	c.setHold(false)

	p.wmu.Lock() // a write under way
	flushed := make(chan error, 1)
	go func() { flushed <- p.flushHeld() }()
	if err := recv(t, flushed, "return from flushHeld"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 16)
		n, _ := b.Read(buf)
		got <- string(buf[:n])
	}()
	if err := p.unlockWrite(); err != nil {
		t.Fatal(err)
	}
	if g := recv(t, got, "the held frame"); g != "held" {
		t.Errorf("the other side read %q, want %q", g, "held")
	}
}

// A batch one of whose frames cannot be sent sends none: the frames
// before it, held, do not go out with the next write.
func TestFailedBatchSendsNothing(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m := serveMaster(t, ServerOptions{Logger: log}, nil)
	conns := m.conns

	batchErr := make(chan error, 1)
	done := make(chan error, 1)
	w := newGoWorker()
	w.run = func(cmd *Command) {
		ctx := context.Background()
		batchErr <- cmd.c.p.callAll(ctx,
			frame{"op": "update", "command_id": cmd.ID, "args": encodeUpdates([]wire.Update{{Key: "stdout", Text: "batch"}}, time.Now())},
			frame{"op": "update", "command_id": cmd.ID, "args": make(chan int)}) // cannot be encoded
		done <- cmd.Finish(ctx, []wire.Update{{Key: "stdout", Text: "after"}}, nil)
	}
	c, err := Dial(testCtx(t), m.url, "w1", "pa:ss", w, DialOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	conn := recv(t, conns, "accepted connection")
	s := newSink()
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "c1", Name: "shell", Args: map[string]any{}, Sink: s}); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, batchErr, "the batch's result"); err == nil {
		t.Fatal("a batch with a frame that cannot be encoded was sent")
	}
	if err := recv(t, done, "the command's finish"); err != nil {
		t.Fatal(err)
	}
	if err := s.ended(t); err != nil {
		t.Fatal(err)
	}
	for _, u := range s.Updates() {
		if u.Text == "batch" {
			t.Errorf("the failed batch's first update reached the master: %+v", s.Updates())
		}
	}
}
