package workercmd

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// cpu is the CPU time (user and system) of this process (RUSAGE_SELF) or
// of its reaped children (RUSAGE_CHILDREN).
func cpu(b *testing.B, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU per op of this process and of its commands
// since self0 and children0.
func reportCPU(b *testing.B, self0, children0 time.Duration) {
	perOp := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(perOp(cpu(b, syscall.RUSAGE_SELF)-self0), "self-cpu-µs/op")
	b.ReportMetric(perOp(cpu(b, syscall.RUSAGE_CHILDREN)-children0), "command-cpu-µs/op")
}

// BenchmarkRunShell runs `true` as the throughput benchmark's step does
// (an argv, looked up in PATH, the environment logged), and, for
// comparison, with os/exec alone. self-cpu is what the worker spends on a
// command (with the Go runtime's own threads), command-cpu what the
// command does, exec included. Count the system calls per op with
// `strace -f -c` on the test binary (GOMAXPROCS=1, as buildworker runs).
func BenchmarkRunShell(b *testing.B) {
	dir := b.TempDir()
	b.Run("RunShell", func(b *testing.B) {
		b.ReportAllocs()
		self0, children0 := cpu(b, syscall.RUSAGE_SELF), cpu(b, syscall.RUSAGE_CHILDREN)
		for b.Loop() {
			res := RunShell(context.Background(), Shell{Argv: []string{"true"}, Workdir: dir, LogEnviron: true}, func(Stream, []byte) {})
			if res.ExitCode != 0 || res.Err != nil {
				b.Fatalf("true: %+v", res)
			}
		}
		reportCPU(b, self0, children0)
	})
	b.Run("os-exec", func(b *testing.B) {
		b.ReportAllocs()
		path, err := exec.LookPath("true")
		if err != nil {
			b.Skip(err)
		}
		self0, children0 := cpu(b, syscall.RUSAGE_SELF), cpu(b, syscall.RUSAGE_CHILDREN)
		for b.Loop() {
			if err := exec.Command(path).Run(); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, self0, children0)
	})
}
