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

// FreeAddrs returns n distinct 127.0.0.1 addresses whose ports were free
// a moment ago. They are released when it returns, so another process may
// bind one before the caller does: a bind-close-rebind race. It exists
// only for the masters the tests configure, which cannot yet take a bound
// listener nor listen on port 0; everything else uses Listen.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for range n {
		// Every listener is held until all n are picked, so that no port
		// is handed out twice.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}
