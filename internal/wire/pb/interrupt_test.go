package pb

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
)

// TestInterruptWriteFails: when the interrupt's write fails, Interrupt
// reports it once: either it returns the error, or answered gets it —
// never both (the failed write ends the connection, which answers the
// pending call, and Interrupt returned the error too).
func TestInterruptWriteFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var armed atomic.Bool // the writes fail once set
	fw := &hookedWrites{Listener: l, hook: func() error {
		if armed.Load() {
			return errors.New("the test fails this write")
		}
		return nil
	}}
	ts := startServerOn(t, Config{}, fw)
	w := dialGo(t, ts.addr)
	if _, err := w.login("w1", "pass1"); err != nil {
		t.Fatal(err)
	}
	c := ts.next(t)
	if err := c.SetBuilderList(context.Background(), map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	var calls atomic.Int32
	answered := make(chan error, 2)
	err = c.Interrupt("b1", "7", "stop it", func(err error) { calls.Add(1); answered <- err })
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
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("reported %v, want the connection lost", err)
	}
}
