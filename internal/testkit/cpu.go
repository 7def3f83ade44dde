package testkit

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPUTime is the CPU time (user and system) this process has used so far,
// for benchmarks that report CPU per unit rather than wall time on a
// shared machine; 0 if the kernel does not say.
func CPUTime() time.Duration {
	ru := rusage()
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// LoadAvg is the machine's load average over 1, 5 and 15 minutes, as
// /proc/loadavg says it ("?" where it cannot be read), to print next to a
// benchmark's figures on a shared machine.
func LoadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// MinorFaults is the number of minor page faults (a page the kernel maps
// without I/O: fresh memory it zeroes, most often) this process has taken
// so far; 0 if the kernel does not say.
func MinorFaults() int64 { return int64(rusage().Minflt) }

// rusage is this process's resource usage so far; zero if the kernel does
// not say.
func rusage() syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return syscall.Rusage{}
	}
	return ru
}

// WriteCalls is the number of write system calls (write, send and their
// kin) this process has made so far, as /proc/self/io counts them
// (syscw); 0 if the kernel does not say.
func WriteCalls() int64 {
	data, _ := os.ReadFile("/proc/self/io")
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "syscw:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
