package msgpack

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsPair returns the client end of a WebSocket whose server end hands
// each connection to serve (over 127.0.0.1:0), both closed at cleanup.
func wsPair(t *testing.T, serve func(*websocket.Conn)) *websocket.Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		serve(ws)
	})}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })
	ws, _, err := websocket.Dial(testCtx(t), "ws://"+l.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

// A frame's write allocates its encoding and little else: no context,
// timer or cancellation registration per frame (the peer's one timer
// bounds the write).
func TestPeerWriteAllocs(t *testing.T) {
	ws := wsPair(t, func(ws *websocket.Conn) {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	})
	p := newPeer(ws, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, 0, 0)
	f := frame{"op": "keepalive", "seq_number": int64(1)}
	allocs := testing.AllocsPerRun(200, func() {
		if err := p.write(f); err != nil {
			t.Fatal(err)
		}
	})
	// Encoding the frame: 2 allocations. A context.WithTimeout per write
	// cost 11 more (its context and timer, the library's AfterFunc).
	if allocs > 3 {
		t.Errorf("a frame's write: %.1f allocations, want at most 3", allocs)
	}
}

// A write that cannot finish within the write timeout (the other side
// reads nothing) ends the connection: the write fails instead of hanging.
func TestPeerWriteTimeoutClosesConnection(t *testing.T) {
	stop := make(chan struct{})
	ws := wsPair(t, func(*websocket.Conn) { <-stop })
	t.Cleanup(func() { close(stop) })
	p := newPeer(ws, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, 0, 50*time.Millisecond)
	failed := make(chan error, 1)
	go func() {
		big := make([]byte, 1<<20)
		for {
			if err := p.write(frame{"op": "update", "data": big}); err != nil {
				failed <- err
				return
			}
		}
	}()
	select {
	case err := <-failed:
		t.Logf("the write failed as it should: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("a write to a peer that reads nothing never failed")
	}
}
