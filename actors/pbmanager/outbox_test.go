package pbmanager

import (
	"fmt"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
)

// startRecorder is a connection whose Start notes the command's ID.
type startRecorder struct {
	wire.Conn
	started chan string
}

func (r startRecorder) Start(wc wire.Command) { r.started <- wc.ID }

// TestOutboxNoLostWakeUp: each start is queued just as the writer has
// written the one before and finds the queue empty; every one is written,
// by one writer at a time (-race sees two).
func TestOutboxNoLostWakeUp(t *testing.T) {
	const n = 5000
	r := startRecorder{started: make(chan string)}
	o := &outbox{conn: r}
	for i := range n {
		o.start(wire.Command{ID: fmt.Sprint(i)})
		if id := testkit.Recv(t, "start "+fmt.Sprint(i), r.started); id != fmt.Sprint(i) {
			t.Fatalf("start %s written where %d was due", id, i)
		}
	}
	testkit.Eventually(t, "the writer ended", func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return !o.writing && len(o.queue) == 0
	})
}
