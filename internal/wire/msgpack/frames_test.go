package msgpack

import (
	"runtime"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
)

// TestOutputFramesReuseBuffers: a worker streaming output in frames of
// 128 KiB costs the master less than two bytes allocated per byte of
// output (the text it decodes, kept by the command's sink). Each frame
// read into a buffer grown anew from 512 bytes cost four more.
func TestOutputFramesReuseBuffers(t *testing.T) {
	if testkit.Race {
		t.Skip("the race detector's sync.Pool drops buffers at random")
	}
	const frames = 64
	text := strings.Repeat("compiling a file of the project ...\n", (128<<10)/36)
	m := startMaster(t, ServerOptions{})
	r, conn := loggedInRaw(t, m)
	s := newSink()
	started := make(chan error, 1)
	go func() {
		started <- conn.StartCommand(testCtx(t), wire.Command{ID: "0", Name: "shell", Args: map[string]any{}, Sink: s})
	}()
	r.answer(r.must(), nil)
	if err := recv(t, started, "StartCommand's return"); err != nil {
		t.Fatal(err)
	}
	update, err := encodeFrame(frame{"op": "update", "seq_number": 0, "command_id": "0",
		"args": []any{[]any{"stdout", []any{text, []any{}, []any{}}}}})
	if err != nil {
		t.Fatal(err)
	}
	send := func() {
		for range frames {
			if err := r.ws.Write(testCtx(t), websocket.MessageBinary, update); err != nil {
				t.Fatal(err)
			}
			if a := r.must(); a["op"] != "response" || a["is_exception"] != nil {
				t.Fatalf("answer %v", a)
			}
		}
	}
	send() // the pool's buffer is made
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	send()
	runtime.ReadMemStats(&after)
	if n := len(s.Updates()); n != 2*frames {
		t.Fatalf("%d updates, want %d", n, 2*frames)
	}
	perByte := float64(after.TotalAlloc-before.TotalAlloc) / float64(frames*len(text))
	t.Logf("%.2f bytes allocated per byte of output", perByte)
	if perByte >= 2 {
		t.Errorf("%.2f bytes allocated per byte of output, want < 2", perByte)
	}
}
