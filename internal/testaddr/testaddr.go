// Package testaddr hands tests free 127.0.0.1 addresses.
package testaddr

import (
	"net"
	"testing"
)

// Free returns n distinct 127.0.0.1 addresses with ports free right now.
// The listeners are held until all n are picked: closing each before
// picking the next could hand out the same port twice, which a master's
// config rejects ("listen.www and listen.debug both use port …").
func Free(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}
