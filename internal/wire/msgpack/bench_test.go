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
// answer, update [rc 0], complete, and their answers; the worker waits for
// the update's answer before it sends the complete (sequential), or sends
// both at once (finish, Command.Finish, as buildworker does). Allocations
// count both sides.
func BenchmarkCommandRoundTrip(b *testing.B) {
	b.Run("sequential", func(b *testing.B) {
		benchRoundTrip(b, func(cmd *Command) {
			ctx := context.Background()
			_ = cmd.Update(ctx, wire.Update{Key: "rc", Int: 0})
			_ = cmd.Complete(ctx, nil)
		})
	})
	b.Run("finish", func(b *testing.B) {
		benchRoundTrip(b, func(cmd *Command) {
			_ = cmd.Finish(context.Background(), []wire.Update{{Key: "rc", Int: 0}}, nil)
		})
	})
}

func benchRoundTrip(b *testing.B, run func(*Command)) {
	m := startMaster(b, ServerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w := newGoWorker()
	w.run = run
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
