package botmaster_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestWorkerConnectionLinesAreBudgeted: a worker that connects in a loop
// has its attached and detached lines logged within its budget (on a
// clock that stands still: exactly droplog.DefaultSourceBurst lines, the
// first connections'), the metrics count every connection, and once the
// budget refills the next line says how many were not logged.
func TestWorkerConnectionLinesAreBudgeted(t *testing.T) {
	var seconds atomic.Int64
	m, connectOnce, lines := startFlapping(t, &seconds)

	const n = 3 * droplog.DefaultSourceBurst
	for range n {
		connectOnce()
	}
	if got, _ := lines(); got != droplog.DefaultSourceBurst {
		t.Fatalf("%d connections: %d attached/detached lines, want %d", n, got, droplog.DefaultSourceBurst)
	}
	for _, event := range []string{"attached", "detached"} {
		if got := testutil.ToFloat64(m.RT.Stats.WorkerConnections.WithLabelValues(event)); got != n {
			t.Fatalf("buildmaster_worker_connections_total{event=%q} = %v, want %d", event, got, n)
		}
	}

	seconds.Add(int64(droplog.DefaultSourceEvery / time.Second))
	connectOnce()
	got, last := lines()
	if got != droplog.DefaultSourceBurst+1 || last["msg"] != "worker attached" || last["peer"] != "127.0.0.1:1" ||
		last["not_logged_before"] != float64(2*n-droplog.DefaultSourceBurst) {
		t.Fatalf("after the budget refilled: %d lines, the last %v; want %d, attached with not_logged_before=%d",
			got, last, droplog.DefaultSourceBurst+1, 2*n-droplog.DefaultSourceBurst)
	}
}

// startFlapping starts a master with worker w1 and its worker-line budget
// on a clock that stands still but for seconds; connectOnce attaches and
// detaches w1 once, lines counts the attached and detached lines and
// returns the last.
func startFlapping(t *testing.T, seconds *atomic.Int64) (m *master.Master, connectOnce func(), lines func() (int, map[string]any)) {
	now := func() time.Time { return time.Unix(1_700_000_000+seconds.Load(), 0) }
	var buf syncBuffer
	m = mastertest.StartFunc(t, func(string) string { return "workers: [{name: w1, password: pw1}]\n" }, "",
		slog.New(slog.NewJSONHandler(&buf, nil)), func(o *master.Options) { o.RefusalsNow = now })
	wpid := actor.NewPID(m.RT.System.Address(), paths.Worker("w1"))
	cycles := 0
	connectOnce = func() {
		t.Helper()
		f := &fakeConn{worker: "w1"}
		pid, err := m.RT.System.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return f }), fmt.Sprintf("fakeconn:w1:%d", cycles))
		if err != nil {
			t.Fatal(err)
		}
		cycles++
		testkit.Eventually(t, "w1 connected", func() bool { return state(m, "w1").GetConnected() })
		if _, err := m.RT.System.Root.RequestFuture(wpid, &messages.ConnectionLost{Reason: "test", Connection: pid.Id}, time.Minute).Result(); err != nil {
			t.Fatal(err)
		}
		m.RT.System.Root.Stop(pid)
	}
	lines = func() (n int, last map[string]any) {
		for l := range strings.Lines(buf.String()) {
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) == nil && (rec["msg"] == "worker attached" || rec["msg"] == "worker detached") {
				n, last = n+1, rec
			}
		}
		return n, last
	}
	return m, connectOnce, lines
}

// TestStopLogsAFlappingWorkersLastLine: a worker whose lines went past its
// budget has the last one, its detach, logged when the master stops,
// though the budget's clock has not moved.
func TestStopLogsAFlappingWorkersLastLine(t *testing.T) {
	var seconds atomic.Int64
	m, connectOnce, lines := startFlapping(t, &seconds)
	for range droplog.DefaultSourceBurst {
		connectOnce()
	}
	if err := m.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	got, last := lines()
	if got != droplog.DefaultSourceBurst+1 || last["msg"] != "worker detached" || last["dropped_at"] == nil ||
		last["not_logged_before"] != float64(droplog.DefaultSourceBurst-1) {
		t.Fatalf("after the stop: %d lines, the last %v; want %d, detached with dropped_at and not_logged_before=%d",
			got, last, droplog.DefaultSourceBurst+1, droplog.DefaultSourceBurst-1)
	}
}

// TestConnectionLostBeforeReadyIsNotADetach: a connection that ends before
// its worker is ready (its setup failed: the connection logs why) was
// never counted attached, so it is not counted detached either:
// attached − detached stays the number of workers connected.
func TestConnectionLostBeforeReadyIsNotADetach(t *testing.T) {
	m := mastertest.StartFunc(t, func(string) string { return "workers: [{name: w1, password: pw1}]\n" }, "", nil)
	wpid := actor.NewPID(m.RT.System.Address(), paths.Worker("w1"))
	attached := make(chan *messages.AttachWorkerResponse, 1)
	pid, err := m.RT.System.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		switch r := ctx.Message().(type) {
		case *actor.Started:
			ctx.Request(wpid, &messages.AttachWorker{Remote: "127.0.0.1:1", Protocol: "fake", Connection: ctx.Self().Id})
		case *messages.AttachWorkerResponse:
			attached <- r
		}
	}), "fakeconn:w1:unready")
	if err != nil {
		t.Fatal(err)
	}
	if r := testkit.Recv(t, "the attach's answer", attached); !r.GetOk() {
		t.Fatalf("attach refused: %v", r.GetError())
	}
	if _, err := m.RT.System.Root.RequestFuture(wpid, &messages.ConnectionLost{Reason: "setup failed", Connection: pid.Id}, time.Minute).Result(); err != nil {
		t.Fatal(err)
	}
	for _, event := range []string{"attached", "detached"} {
		if got := testutil.ToFloat64(m.RT.Stats.WorkerConnections.WithLabelValues(event)); got != 0 {
			t.Fatalf("buildmaster_worker_connections_total{event=%q} = %v, want 0", event, got)
		}
	}
}

// TestEveryWorkerHasItsOwnBudget: when more workers than the log's shared
// burst attach at once (a master restarted under a big fleet), each
// worker's attached line is logged: the budget is per worker name only.
func TestEveryWorkerHasItsOwnBudget(t *testing.T) {
	const n = 2 * droplog.DefaultBurst
	var cfg strings.Builder
	cfg.WriteString("workers:\n")
	for i := range n {
		fmt.Fprintf(&cfg, "  - {name: w%d, password: pw}\n", i)
	}
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	var buf syncBuffer
	m := mastertest.StartFunc(t, func(string) string { return cfg.String() }, "",
		slog.New(slog.NewJSONHandler(&buf, nil)), func(o *master.Options) { o.RefusalsNow = now })
	for i := range n {
		attach(t, m, &fakeConn{worker: fmt.Sprintf("w%d", i)})
	}
	if got := strings.Count(buf.String(), `"msg":"worker attached"`); got != n {
		t.Fatalf("%d workers attached, %d lines logged", n, got)
	}
}
