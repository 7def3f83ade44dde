package test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// BenchmarkCLI times whole client processes of a plain (not raced)
// binary against a master of 1,000 builders, each call a new process as a
// user runs it: process start and package init included. Each sub-benchmark
// reports the wall time of a call (ms/call), the master's part of it
// (master-ms/call: the time its handlers took, from its /metrics), what is
// left, the client's cost (client-ms/call = ms/call − master-ms/call), and
// the CPU the client process used (client-cpu-ms/call, the figure that
// holds on a loaded machine). reconfig sends the master's own file
// unchanged (the master answers without parsing it). builds lists 20
// finished builds of b0000, run before the timing by worker w0000; force
// queues requests for b0001, whose worker is not connected, so that no
// build runs during the timing.
//
//	go test -run '^$' -bench BenchmarkCLI -benchtime 20x ./test/
func BenchmarkCLI(b *testing.B) {
	n := testkit.ShortOr(1000, 10)
	bin, workerBin := plainBinaries(b)
	m := newMaster(b, benchBody(0, n)+"schedulers:\n  - {name: force, type: force, builders: [b0000, b0001]}\n")
	m.start(bin)
	waitBuilders(b, m, n)
	b.Cleanup(func() {
		m.signal(syscall.SIGTERM)
		m.wait()
	})
	env := append(os.Environ(), "BUILDMASTER_MASTER="+m.remote, "BUILDMASTER_WWW=http://"+m.www, "BUILDMASTER_TOKEN="+m.token)
	w := startWorkerProcess(b, workerBin, m, "info", "w0000", "pw0000")
	waitConnected(b, []*worker{w}, time.Minute)
	for range 20 {
		cmd := exec.Command(bin, "force", "b0000", "--wait")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("force b0000 --wait: %v\n%s", err, out)
		}
	}
	for _, args := range [][]string{
		{"--help"},
		{"version"},
		{"tree"},
		{"force", "b0001"},
		{"reconfig", "--config", m.cfgPath},
		{"builds"},
	} {
		b.Run(args[0], func(b *testing.B) {
			var cpu time.Duration
			before := masterBusy(b, m)
			b.ResetTimer()
			for range b.N {
				cmd := exec.Command(bin, args...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%.2000s", args, err, out)
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			b.StopTimer()
			perCall := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(b.N) }
			master := masterBusy(b, m) - before
			b.ReportMetric(perCall(b.Elapsed()), "ms/call")
			b.ReportMetric(perCall(master), "master-ms/call")
			b.ReportMetric(perCall(b.Elapsed()-master), "client-ms/call")
			b.ReportMetric(perCall(cpu), "client-cpu-ms/call")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// masterBusy is the time m's handlers took answering requests so far, on
// every listener but the debug one (which answers these scrapes).
func masterBusy(b *testing.B, m *master) time.Duration {
	b.Helper()
	body, err := scrape(m.debug)
	if err != nil {
		b.Fatal(err)
	}
	samples := metricSamples(body, "buildmaster_http_request_seconds_total")
	if len(samples) == 0 {
		b.Fatalf("/metrics has no buildmaster_http_request_seconds_total")
	}
	var sum float64
	for labels, v := range samples {
		if labels != `listener="debug"` {
			sum += v
		}
	}
	return time.Duration(sum * float64(time.Second))
}
