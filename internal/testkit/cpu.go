package testkit

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time (user and system) this process has used so far,
// for benchmarks that report CPU per unit rather than wall time on a
// shared machine; 0 if the kernel does not say.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
