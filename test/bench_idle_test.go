package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIdleMasterCPU: the master's fixed cost, CPU per second of a
// durable master with 4 connected stock buildbot-worker 3.7 processes (the
// throughput benchmark's config: 4 workers, 4 builders, a scheduler) and
// no build: timers, keepalives, raft's and procpolicy's checks, metrics.
// Measured over BM_BENCH_IDLE_SECONDS (default 20, 2 with -short) once
// the workers are connected and 2 s have settled their logins; reports
// master-cpu-ms/s (read in 10 ms ticks: 0.5 ms/s steps over 20 s) and
// the context switches per second of the master's threads. At 25
// builds/s, 5 ms/s is 0.2 ms/build. BM_BENCH_PPROF=DIR saves the window's CPU profile and
// trace, which cost more than what they measure here: with them an idle
// master used 3.5 ms/s and switched 48-63 times a second, without them
// 0.75-1.0 ms/s and 8-10 times (msgpack and PB alike).
func BenchmarkIdleMasterCPU(b *testing.B) {
	seconds := benchSize("BM_BENCH_IDLE_SECONDS", 20, 2)
	for _, protocol := range []string{"msgpack", "pb"} {
		b.Run("buildbot-worker/"+protocol+"/workers=4", func(b *testing.B) {
			b.StopTimer()
			masterBin, _ := plainBinaries(b)
			kind := buildbotWorkerKind(protocol)
			var cpu time.Duration
			var switches uint64
			for run := range b.N {
				m := newMaster(b, throughputBody(4, false))
				m.start(masterBin, "--log-format", "json")
				for i := range 4 {
					name := fmt.Sprintf("w%d", i)
					kind.start(b, m, name, fmt.Sprintf("pw%d", i), filepath.Join(m.dir, "worker-"+name))
				}
				for i := range 4 {
					m.waitConnected(fmt.Sprintf("w%d", i))
				}
				time.Sleep(2 * time.Second) // the logins' work settles
				pid := m.cmd.Process.Pid
				stopProfile := profileMaster(b, m, fmt.Sprintf("idle-%s-%d", protocol, run), seconds)
				c0, s0 := procCPU(b, pid), procSwitches(pid)
				b.StartTimer()
				time.Sleep(time.Duration(seconds) * time.Second)
				b.StopTimer()
				cpu += procCPU(b, pid) - c0
				switches += procSwitches(pid) - s0
				stopProfile()
				m.signal(syscall.SIGTERM)
				m.wait()
			}
			total := float64(seconds * b.N)
			b.ReportMetric(float64(cpu.Microseconds())/1e3/total, "master-cpu-ms/s")
			b.ReportMetric(float64(switches)/total, "master-ctxsw/s")
		})
	}
}

// procSwitches is the voluntary and involuntary context switches of the
// threads of process pid that are alive now.
func procSwitches(pid int) (n uint64) {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue // the thread has exited
		}
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				c, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}
