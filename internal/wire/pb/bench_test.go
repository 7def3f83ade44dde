package pb

import (
	"context"
	"fmt"
	"testing"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// doneSink is the cheapest Sink: it only signals Complete.
type doneSink chan error

func (d doneSink) Update([]wire.Update) {}
func (d doneSink) Complete(err error)   { d <- err }

// benchRoundTrips runs b.N commands one after the other on c.
func benchRoundTrips(b *testing.B, c wire.Conn, name string, args map[string]any) {
	ctx := context.Background()
	done := make(doneSink, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := c.StartCommand(ctx, wireCommand(fmt.Sprint(i), "b1", name, args, done)); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommandRoundTrip: startCommand, the worker's update (rc 0) and
// complete, each answered, against the Go test worker in the same process
// (so allocations count both sides).
func BenchmarkCommandRoundTrip(b *testing.B) {
	ts := startServer(b, Config{})
	w := dialGo(b, ts.addr)
	if _, err := w.login("w1", "pass1"); err != nil {
		b.Fatal(err)
	}
	c := ts.next(b)
	if err := c.SetBuilderList(context.Background(), map[string]string{"b1": "b1"}); err != nil {
		b.Fatal(err)
	}
	benchRoundTrips(b, c, "shell", map[string]any{"workdir": "/tmp", "command": []string{"true"}})
}

// BenchmarkRealWorkerRoundTrip: the same against Debian's buildbot-worker,
// with its cheapest command (stat: no process is started).
func BenchmarkRealWorkerRoundTrip(b *testing.B) {
	ts := startServer(b, Config{})
	w := startWorker(b, ts.addr, "w1", "pass1")
	c := ts.next(b)
	if err := c.SetBuilderList(context.Background(), map[string]string{"b1": "b1"}); err != nil {
		b.Fatal(err)
	}
	benchRoundTrips(b, c, "stat", map[string]any{"path": w.basedir})
}
