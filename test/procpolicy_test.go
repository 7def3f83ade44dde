package test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestIdleMasterRunsOnOneP: an idle master runs on one P: its /metrics
// says GOMAXPROCS 1 (internal/procpolicy). That it goes back to the
// default when busy is the policy's unit tests' (under a shared machine's
// load the master may never get the 80% of a core that takes it there).
func TestIdleMasterRunsOnOneP(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("the default GOMAXPROCS is 1 on one CPU")
	}
	t.Parallel()
	m := startMaster(t, "")
	testkit.Retry(t, func() error {
		body, err := scrape(m.debug)
		if err != nil {
			return err
		}
		procs, ok := metricSamples(body, "go_sched_gomaxprocs_threads")[""]
		if !ok {
			return errors.New("/metrics has no go_sched_gomaxprocs_threads")
		}
		if procs != 1 {
			return fmt.Errorf("go_sched_gomaxprocs_threads %v, want 1", procs)
		}
		return nil
	})
}
