package testkit

import (
	"runtime"
	"testing"
)

// OnOneP runs the rest of t on one P (GOMAXPROCS=1), as the master runs
// while idle (internal/procpolicy), and puts GOMAXPROCS back when t ends;
// it skips t on a machine of one CPU, where one P is all there is. For
// tests that a pool made now is not sized from GOMAXPROCS. t must not be
// parallel: GOMAXPROCS is the process's.
func OnOneP(t testing.TB) {
	t.Helper()
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: one P is the default")
	}
	prev := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}
