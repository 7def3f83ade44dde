package msgpack

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/coder/websocket"
)

// A write that completes disarms the write timer, so that it
// cannot close a healthy connection writeTimeout after the write (no test
// failed with p.writeTimer.Stop() removed from peer.write).
func TestWriteDisarmsTimer(t *testing.T) {
	ws := wsPair(t, func(ws *websocket.Conn) {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	})
	p := newPeer(ws, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, 0, 0)
	if err := p.write(frame{"op": "keepalive", "seq_number": int64(1)}); err != nil {
		t.Fatal(err)
	}
	if p.writeTimer.Stop() {
		t.Fatal("the write timer is still armed after the write completed")
	}
}
