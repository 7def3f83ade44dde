package test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestIdleMasterRunsOnOneP: an idle master goes to one P (its /metrics
// says GOMAXPROCS 1), and back to the default once requests keep it busy
// (internal/procpolicy).
func TestIdleMasterRunsOnOneP(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("the default GOMAXPROCS is 1 on one CPU")
	}
	m := startMaster(t, "")
	procs := func() (float64, error) {
		body, err := scrape(m.debug)
		if err != nil {
			return 0, err
		}
		v, ok := metricSamples(body, "go_sched_gomaxprocs_threads")[""]
		if !ok {
			return 0, fmt.Errorf("/metrics has no go_sched_gomaxprocs_threads")
		}
		return v, nil
	}
	want := func(n float64) func() error {
		return func() error {
			got, err := procs()
			if err == nil && got != n {
				err = fmt.Errorf("go_sched_gomaxprocs_threads %v, want %v", got, n)
			}
			return err
		}
	}
	testkit.Retry(t, want(1))
	// Scrapes from four clients at once keep the master busy until it
	// is back on the default.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				scrape(m.debug) // an error only means the test is over
			}
		})
	}
	defer wg.Wait()
	defer cancel()
	testkit.Retry(t, func() error {
		got, err := procs()
		if err == nil && got < 2 {
			err = fmt.Errorf("go_sched_gomaxprocs_threads %v under load, want the default (%d)", got, runtime.NumCPU())
		}
		return err
	})
}
