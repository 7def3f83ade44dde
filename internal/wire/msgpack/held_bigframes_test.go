package msgpack

import (
	"context"
	"log/slog"
	"strings"

	"net"
	"sync"
	"testing"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// TestHeldConnReadNotBlockedByWrite: each side of a connection writes
// while its reader drains what the other side writes. With plain
// connections this always completes; heldConn.Read takes the mutex a
// blocked Write holds (holding, under c.mu for the whole Conn.Write), so
// when both sides' writes wait for the other side to read, neither reader
// can read: a deadlock (only the peer's write timeout ends it). net.Pipe
// has no buffer, which makes every write wait for the reader, as a full
// socket buffer does. Without the fix it fails after waitLimit.
func TestHeldConnReadNotBlockedByWrite(t *testing.T) {
	a, b := net.Pipe()
	ha, hb := newHeldConn(a), newHeldConn(b)
	ha.beforeRead = func() error { return ha.flush() }
	hb.beforeRead = func() error { return hb.flush() }
	msg := make([]byte, 4096)
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = a.Close(); _ = b.Close(); wg.Wait() })
	done := make(chan struct{})
	for _, c := range []*heldConn{ha, hb} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := c.Write(msg); err != nil {
				t.Errorf("write: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			// Small reads, as the library's bufio.Reader makes for
			// a frame bigger than its buffer.
			buf := make([]byte, 512)
			for n := 0; n < len(msg); {
				k, err := c.Read(buf)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				n += k
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	waitDone(t, done, "both sides' writes and reads")
}

// smallBufListener sets small socket buffers on the connections it
// accepts, as a slow link's window is.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		smallBuffers(c)
	}
	return c, err
}

// dialSmallBuffers dials a TCP connection with small socket buffers.
func dialSmallBuffers(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		smallBuffers(c)
	}
	return c, err
}

func smallBuffers(c net.Conn) {
	tc := c.(*net.TCPConn)
	_ = tc.SetReadBuffer(4096)
	_ = tc.SetWriteBuffer(4096)
}

// TestBothSidesSendingBigFramesAtOnce: the master prints a big message to
// the worker while the worker sends a big update, each from a goroutine
// other than its read loop, over a connection whose socket buffers are
// small (each frame bigger than they hold). Each side's reader must keep
// reading while its own writer waits for the other side to read. When
// Read waited for a blocked Write (heldConn's mutex, or the peer's wmu in
// flushHeld), both writers waited for readers that waited for them, until
// the write timeout ended the connection; the test then fails after
// waitLimit.
func TestBothSidesSendingBigFramesAtOnce(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m := serveMaster(t, ServerOptions{Logger: log}, func(l net.Listener) net.Listener { return smallBufListener{l} })
	conns := m.conns

	const rounds, size = 1, 1 << 17
	big := strings.Repeat("x", size)
	updated := make(chan error, 1)
	w := newGoWorker()
	w.run = func(cmd *Command) {
		for range rounds {
			if err := cmd.Update(context.Background(), wire.Update{Key: "stdout", Text: big}); err != nil {
				updated <- err
				return
			}
		}
		updated <- nil
	}
	c, err := Dial(testCtx(t), m.url, "w1", "pa:ss", w, DialOptions{Logger: log, netDial: dialSmallBuffers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	conn := recv(t, conns, "accepted connection")
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "c1", Name: "shell", Args: map[string]any{}, Sink: newSink()}); err != nil {
		t.Fatal(err)
	}
	printed := make(chan error, 1)
	go func() {
		for range rounds {
			if err := conn.Print(context.Background(), big); err != nil {
				printed <- err
				return
			}
		}
		printed <- nil
	}()
	if err := recv(t, printed, "the master's prints"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, updated, "the worker's updates"); err != nil {
		t.Fatal(err)
	}
}
