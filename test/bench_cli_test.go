package test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// BenchmarkCLI times whole client processes of a plain (not raced)
// binary against a master of 1,000 builders, each call a new process as a
// user runs it: process start and package init included. Each sub-benchmark
// reports ms/call; reconfig sends the master's own file unchanged (the
// master answers without parsing it), so its figure is almost all client.
//
//	go test -run '^$' -bench BenchmarkCLI -benchtime 20x ./test/
func BenchmarkCLI(b *testing.B) {
	n := shortOr(1000, 10)
	bin := buildPlain(b, b.TempDir())
	m := newMaster(b, benchBody(0, n)+"schedulers:\n  - {name: force, type: force, builders: [b0000]}\n")
	m.start(bin)
	waitBuilders(b, m, n)
	b.Cleanup(func() {
		m.signal(syscall.SIGTERM)
		m.wait()
	})
	env := append(os.Environ(), "BUILDMASTER_MASTER="+m.remote, "BUILDMASTER_WWW=http://"+m.www, "BUILDMASTER_TOKEN="+m.token)
	for _, args := range [][]string{
		{"--help"},
		{"version"},
		{"tree"},
		{"force", "b0000"},
		{"reconfig", "--config", m.cfgPath},
		{"builds"},
	} {
		b.Run(args[0], func(b *testing.B) {
			for range b.N {
				cmd := exec.Command(bin, args...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%.2000s", args, err, out)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/call")
			b.ReportMetric(0, "ns/op")
		})
	}
}
