package msgpack

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// BenchmarkCommandRoundTrip: one trivial command (`true`) per op between a
// Server and a Dial'ed Go worker over 127.0.0.1: start_command, its
// answer, update [rc 0], complete, and their answers. Allocations count
// both sides.
func BenchmarkCommandRoundTrip(b *testing.B) {
	m := startMaster(b, ServerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w := newGoWorker()
	w.run = func(cmd *Command) {
		ctx := context.Background()
		_ = cmd.Update(ctx, wire.Update{Key: "rc", Int: 0})
		_ = cmd.Complete(ctx, nil)
	}
	c, err := Dial(testCtx(b), m.url, "w1", "pa:ss", w, DialOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close("done")
	conn := recv(b, m.conns, "accepted connection")
	ctx := context.Background()
	args := map[string]any{"command": []any{"true"}, "workdir": "/w/b"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := newSink()
		if err := conn.StartCommand(ctx, wire.Command{ID: strconv.Itoa(i), Name: "shell", Args: args, Sink: s}); err != nil {
			b.Fatal(err)
		}
		if err := <-s.complete; err != nil {
			b.Fatal(err)
		}
	}
}
