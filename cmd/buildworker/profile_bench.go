//go:build benchprofile

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"
)

// Built only with -tags benchprofile (test/'s throughput benchmark does so
// when BM_BENCH_WORKER_PPROF is set): with $BM_BENCH_WORKER_PPROF=DIR the
// worker writes its CPU profile of its first $BM_BENCH_WORKER_PPROF_SECONDS
// (default 15) to DIR/buildworker-PID.pprof.
func init() {
	dir := os.Getenv("BM_BENCH_WORKER_PPROF")
	if dir == "" {
		return
	}
	seconds, err := strconv.Atoi(os.Getenv("BM_BENCH_WORKER_PPROF_SECONDS"))
	if err != nil || seconds <= 0 {
		seconds = 15
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("buildworker-%d.pprof", os.Getpid())))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildworker: CPU profile:", err)
		return
	}
	time.AfterFunc(time.Duration(seconds)*time.Second, func() {
		pprof.StopCPUProfile()
		f.Close()
	})
}
