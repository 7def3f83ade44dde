package workercmd

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// usage is what getrusage says of this process (RUSAGE_SELF) or of its
// reaped children (RUSAGE_CHILDREN): CPU time (user and system), page
// faults and context switches.
type usage struct {
	cpu              time.Duration
	faults, switches int64
}

func getUsage(b *testing.B, who int) usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return usage{time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Minflt + ru.Majflt, ru.Nvcsw + ru.Nivcsw}
}

// measureUsage returns a func that reports, per op, the usage of this
// process ("self") and of its commands since it was called.
func measureUsage(b *testing.B) func() {
	self0, children0 := getUsage(b, syscall.RUSAGE_SELF), getUsage(b, syscall.RUSAGE_CHILDREN)
	return func() {
		reportUsage(b, "self", self0, getUsage(b, syscall.RUSAGE_SELF))
		reportUsage(b, "command", children0, getUsage(b, syscall.RUSAGE_CHILDREN))
	}
}

func reportUsage(b *testing.B, name string, from, to usage) {
	n := float64(b.N)
	b.ReportMetric(float64((to.cpu-from.cpu).Microseconds())/n, name+"-cpu-µs/op")
	b.ReportMetric(float64(to.faults-from.faults)/n, name+"-faults/op")
	b.ReportMetric(float64(to.switches-from.switches)/n, name+"-switches/op")
}

// BenchmarkRunShell runs `true` as the throughput benchmark's step does
// (an argv, looked up in PATH, the environment logged), and, for
// comparison, with os/exec alone. self-* is what the worker spends on a
// command (with the Go runtime's own threads), command-* what the command
// does, exec included: CPU, page faults, context switches. Count the
// system calls per op with `strace -f -c` on the test binary (with
// GOMAXPROCS=1, as buildworker runs).
func BenchmarkRunShell(b *testing.B) {
	dir := b.TempDir()
	b.Run("RunShell", func(b *testing.B) {
		b.ReportAllocs()
		report := measureUsage(b)
		for b.Loop() {
			res := RunShell(context.Background(), Shell{Argv: []string{"true"}, Workdir: dir, LogEnviron: true}, func(Stream, []byte) {})
			if res.ExitCode != 0 || res.Err != nil {
				b.Fatalf("true: %+v", res)
			}
		}
		report()
	})
	b.Run("os-exec", func(b *testing.B) {
		b.ReportAllocs()
		path, err := exec.LookPath("true")
		if err != nil {
			b.Skip(err)
		}
		report := measureUsage(b)
		for b.Loop() {
			if err := exec.Command(path).Run(); err != nil {
				b.Fatal(err)
			}
		}
		report()
	})
}
