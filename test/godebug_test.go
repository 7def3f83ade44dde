package test

import (
	"strings"
	"testing"
)

// TestMasterEnvGodebug: a master samples allocations every 4 KiB only when
// benchmarks save profiles, and keeps the GODEBUG settings the tests were
// run with.
func TestMasterEnvGodebug(t *testing.T) {
	godebug := func() string {
		v := ""
		for _, kv := range masterEnv() {
			if s, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
				v = s // the last one is the one a process gets
			}
		}
		return v
	}
	t.Setenv("GODEBUG", "gctrace=1")
	t.Setenv("BM_BENCH_PPROF", "")
	if got := godebug(); got != "gctrace=1" {
		t.Errorf("without BM_BENCH_PPROF: GODEBUG=%q, want gctrace=1", got)
	}
	t.Setenv("BM_BENCH_PPROF", t.TempDir())
	if got := godebug(); got != "gctrace=1,memprofilerate=4096" {
		t.Errorf("with BM_BENCH_PPROF: GODEBUG=%q, want gctrace=1,memprofilerate=4096", got)
	}
}
