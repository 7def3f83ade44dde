package pbmanager_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// BenchmarkIdleStrangers answers "what do strangers cost?": it opens b.N
// connections that never log in to a real master's worker listener (each
// PB one reads the dialect offer, so the server holds it; a msgpack one
// sends nothing, so the HTTP server waits for its headers) and reports
// what the process holds for each while they wait: heap bytes, stack
// bytes, RSS bytes (noisy: the second listener's run reuses the pages the
// first one freed; run one listener per process for it) and goroutines. Run it with -benchtime 1000x (b.N connections at once;
// the process needs 2 descriptors each).
func BenchmarkIdleStrangers(b *testing.B) {
	for _, listener := range []string{"pb", "msgpack"} {
		b.Run("listener="+listener, func(b *testing.B) {
			m := mastertest.Start(b, config, "", nil, maxStrangers(int32(b.N)+1))
			addr := m.WorkersPBAddr
			if listener == "msgpack" {
				addr = m.WorkersAddr
			}
			heap0, stack0, rss0, g0 := usage()
			conns := make([]net.Conn, 0, b.N)
			b.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			b.ResetTimer()
			for range b.N {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				conns = append(conns, c)
				if listener == "pb" {
					if _, err := c.Read(make([]byte, 64)); err != nil { // the dialect offer: the server holds the connection
						b.Fatal(err)
					}
				}
			}
			testkit.Eventually(b, "a goroutine for each connection", func() bool { return runtime.NumGoroutine() >= g0+b.N })
			b.StopTimer()
			heap1, stack1, rss1, g1 := usage()
			n := float64(b.N)
			b.ReportMetric(float64(heap1-heap0)/n, "heap-B/stranger")
			b.ReportMetric(float64(stack1-stack0)/n, "stack-B/stranger")
			b.ReportMetric(float64(rss1-rss0)/n, "rss-B/stranger")
			b.ReportMetric(float64(g1-g0)/n, "goroutines/stranger")
		})
	}
}

// TestStrangersAreBounded: each worker listener holds at most
// listen.workers_max_unauthenticated connections that have not logged in;
// a new one past that is closed at once, logged with its peer and counted.
// A worker that logged in holds no such place.
func TestStrangersAreBounded(t *testing.T) {
	m, logs := start(t, maxStrangers(1))
	testkit.Recv(t, "w1's connection", runWorker(t, m, "w1", "pw1"))
	for _, l := range []struct{ name, addr string }{{"workers", m.WorkersAddr}, {"workers_pb", m.WorkersPBAddr}} {
		held, err := net.Dial("tcp", l.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		testkit.Eventually(t, "the stranger held", func() bool { return metric(t, m, "buildmaster_listener_strangers", l.name) == 1 })
		refused, err := net.Dial("tcp", l.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer refused.Close()
		if n, err := io.Copy(io.Discard, refused); n != 0 || err != nil {
			t.Fatalf("%s: the stranger past the bound got %d bytes, %v; want a close", l.name, n, err)
		}
		if n := metric(t, m, "buildmaster_listener_strangers_refused_total", l.name); n != 1 {
			t.Errorf("%s: %v strangers refused, want 1", l.name, n)
		}
		want := fmt.Sprintf(`msg="too many connections have not logged in, closing a new one" peer=%s listener=listen.%s max=1`, refused.LocalAddr(), l.name)
		testkit.Eventually(t, "the refusal logged", func() bool { return strings.Contains(logs.String(), want) })
	}
}

// maxStrangers is an option of mastertest.Start: listen.workers_max_unauthenticated.
func maxStrangers(n int32) func(*master.Options) {
	return func(o *master.Options) { o.Config.Listen.WorkersMaxUnauthenticated = &n }
}

// metric is the value of the master's metric name for listener.
func metric(t *testing.T, m *master.Master, name, listener string) float64 {
	t.Helper()
	families, err := m.RT.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == "listener" && lp.GetValue() == listener {
					return mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{listener=%q}", name, listener)
	return 0
}

// usage is the live heap after a collection, the goroutines' stacks, the
// process's resident set and its goroutines.
func usage() (heap, stack, rss uint64, goroutines int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse, residentBytes(), runtime.NumGoroutine()
}

// residentBytes is VmRSS of /proc/self/status (0 where there is none).
func residentBytes() uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
