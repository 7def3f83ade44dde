package state

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/messages"
)

// TestOneGoroutineCompletesSubmitAsync: the commands SubmitAsync has in
// flight are waited for by one goroutine, not one each, and their results
// come back in the order they were submitted.
func TestOneGoroutineCompletesSubmitAsync(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Logger: quiet(), SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = maxInline
	release := make(chan struct{})
	called := make(chan struct{}, n)
	ids := make(chan uint64, n)
	for i := range n {
		s.SubmitAsync(builder(fmt.Sprintf("b%d", i)), func(res *messages.CommandResult, err error) {
			if err != nil {
				t.Error(err)
			}
			ids <- res.GetId()
			called <- struct{}{}
			<-release // holds back the rest: the goroutines stay to be counted
		})
	}
	<-called
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	waiting := strings.Count(stacks, "internal/state.(*Store).SubmitAsync") + strings.Count(stacks, "internal/state.(*completer).run")
	close(release)
	for range n - 1 {
		<-called
	}
	if waiting != 1 {
		t.Errorf("%d goroutines wait for %d commands, want 1", waiting, n)
	}
	var last uint64
	for range n {
		id := <-ids
		if id <= last {
			t.Fatalf("builder id %d completed after %d", id, last)
		}
		last = id
	}
}
