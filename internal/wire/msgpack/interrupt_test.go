package msgpack

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// TestInterruptLostAsItIsWritten: the connection ends after an interrupt's
// request is registered and before it is written. Interrupt reports it
// once: either it returns the error, or answered gets it — never both (the
// connection's end answered the pending request, then the failed write
// returned its error too).
func TestInterruptLostAsItIsWritten(t *testing.T) {
	var conn atomic.Pointer[serverConn]
	m := startMaster(t, ServerOptions{}, func(s *Server) {
		s.onFrame = func(in bool, b []byte) {
			if c := conn.Load(); c != nil && !in && bytes.Contains(b, []byte("interrupt_command")) {
				c.Close("the test drops the worker")
				<-c.Done()
			}
		}
	})
	_, c := connect(t, m, newGoWorker())
	conn.Store(c)
	var calls atomic.Int32
	answered := make(chan error, 2)
	err := c.Interrupt("b", "7", "stop it", func(err error) { calls.Add(1); answered <- err })
	if err != nil {
		calls.Add(1)
	}
	<-c.Done()
	if n := calls.Load(); n != 1 {
		t.Fatalf("the failure was reported %d times (returned: %v), want once", n, err)
	}
	if err == nil {
		err = <-answered
	}
	if !errors.Is(err, wire.ErrConnectionLost) {
		t.Fatalf("reported %v, want the connection lost", err)
	}
}
