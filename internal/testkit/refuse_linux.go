//go:build linux

package testkit

import (
	"net"
	"syscall"
	"testing"
)

// RefusingAddr returns a 127.0.0.1 address where a connection is refused
// at once, as where no one listens, for tests of what a client does when
// its server is not there. Its port stays reserved (bound, never
// listening) until the test ends, so no other process can start
// listening there meanwhile, as it could on a port merely found free.
func RefusingAddr(t testing.TB) string {
	t.Helper()
	// Without SO_REUSEADDR no other socket can bind the port.
	return reserve(t, false)
}

// reserve binds a socket on 127.0.0.1 at a port the system picks, closed
// when the test ends, and returns its address.
func reserve(t testing.TB, reuse bool) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if reuse {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
}

// ReservedAddr returns a 127.0.0.1 address whose port stays reserved for
// the test (bound with SO_REUSEADDR, never listening) until it ends, for a
// server that must listen on the same address again after a restart (its
// clients reconnect there). A process that binds that port by number with
// SO_REUSEADDR, as Go's net.Listen does, can listen on it, again and again;
// meanwhile no bind to port 0 and no outgoing connection gets the port,
// and a bind without SO_REUSEADDR fails: nothing else takes it in between.
func ReservedAddr(t testing.TB) string {
	t.Helper()
	return reserve(t, true)
}
