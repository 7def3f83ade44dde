package wiretest

import (
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
)

// Interrupt interrupts command id on c and waits for the worker's answer:
// the failure to send the request, or the answer (nil: done). It must be
// called on the test's goroutine.
func Interrupt(t testing.TB, c wire.Conn, builder, id, why string) error {
	t.Helper()
	answered := make(chan error, 1)
	if err := c.Interrupt(builder, id, why, func(err error) { answered <- err }); err != nil {
		return err
	}
	return testkit.Recv(t, "the answer to interrupting command "+id, answered)
}
