package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	bmworker "github.com/buildmaster/buildmaster/internal/worker"
)

// runInprocWorkers runs n workers w0000… (passwords pw0000…) against m
// inside this test process: the buildworker's code (internal/worker.Run),
// each with its own connection and a basedir under m's directory, so the
// master sees what n worker processes would give it without n processes
// (Run dials again by itself whenever a login fails or a connection ends).
// It waits, up to within, until every one has logged in once, and
// returns what stops them all (called at the test's end too).
func runInprocWorkers(t testing.TB, m *master, n int, within time.Duration) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	var connected atomic.Int64
	for i := range n {
		name := fmt.Sprintf("w%04d", i)
		dir := filepath.Join(m.dir, "worker-"+name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			var once sync.Once
			if err := bmworker.Run(ctx, bmworker.Options{Master: m.workers, Name: name, Password: fmt.Sprintf("pw%04d", i), Basedir: dir,
				Connected: func() { once.Do(func() { connected.Add(1) }) }}); err != nil {
				t.Errorf("worker %s: %v", name, err)
			}
		})
	}
	testkit.Retry(t, func() error {
		if c := connected.Load(); c < int64(n) {
			return fmt.Errorf("%d of %d workers connected", c, n)
		}
		return nil
	}, testkit.Within(within))
	return stop
}
