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
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	// Without SO_REUSEADDR no other socket can bind the port.
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
}
