package testkit

import (
	"net"
	"testing"
)

// Listen returns a TCP listener bound on 127.0.0.1 at a port the system
// picks, closed when the test ends. Hand the listener itself (or its
// address, while it stays open) to what the test serves with: never close
// it so that something else may bind the same port, which another process
// can take in between.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
