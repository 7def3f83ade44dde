package msgpack

import (
	"context"
	"log/slog"
	"net"
	"net/http"
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
	conns := make(chan wire.Conn, 1)
	log := slog.New(slog.DiscardHandler)
	srv, err := NewServer(&testAuth{users: map[string]string{"w1": "pw"}}, func(c wire.Conn) { conns <- c }, ServerOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(countingListener{l, &masterWrites}) }()
	t.Cleanup(func() { srv.Close("test over"); _ = hs.Close() })

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
	c, err := Dial(testCtx(t), "ws://"+l.Addr().String(), "w1", "pw", w, DialOptions{Logger: log, netDial: dial})
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
