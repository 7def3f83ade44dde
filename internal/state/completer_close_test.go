package state

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/messages"
)

// TestSubmitAsyncDoneOnceAcrossClose: commands submitted while the Store
// closes (and after) each get their done called exactly once, whatever
// raft did with them.
func TestSubmitAsyncDoneOnceAcrossClose(t *testing.T) {
	for round := range 8 {
		s, err := Open(t.TempDir(), Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, NoSnapshotOnClose: true})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		calls := map[int]int{}
		submit := func(i int) {
			wg.Add(1)
			s.SubmitAsync(builder(fmt.Sprintf("b%d", i)), func(_ *messages.CommandResult, _ error) {
				mu.Lock()
				calls[i]++
				mu.Unlock()
				wg.Done()
			})
		}
		stop := make(chan struct{})
		var subs sync.WaitGroup
		for g := range 4 {
			subs.Add(1)
			go func() {
				defer subs.Done()
				for i := g; ; i += 4 {
					select {
					case <-stop:
						return
					default:
					}
					submit(i)
				}
			}()
		}
		// Let some commands be in flight, then close under them.
		first := make(chan struct{})
		s.SubmitAsync(builder("first"), func(*messages.CommandResult, error) { close(first) })
		<-first
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		close(stop)
		subs.Wait()
		submit(-1) // after Close: ErrClosed, still reported
		wg.Wait()
		for i, n := range calls {
			if n != 1 {
				t.Fatalf("round %d: command %d: done called %d times", round, i, n)
			}
		}
	}
}
