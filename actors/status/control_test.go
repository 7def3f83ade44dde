package status

import (
	"net"
	"net/http/httptest"
	"testing"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/auth"
)

// TestAllow: until users and roles exist, anonymous actions are allowed
// only on a loopback www listener; the admin token always is.
func TestAllow(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8010}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 8010}, true},
		{&net.TCPAddr{IP: net.ParseIP("0.0.0.0"), Port: 8010}, false},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 8010}, false},
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, false},
	} {
		if got := loopback(tc.addr); got != tc.want {
			t.Errorf("loopback(%v) = %v", tc.addr, got)
		}
	}
	can := allow(&service.Runtime{}) // no www listener: not loopback
	r := httptest.NewRequest("POST", "/api/v2/builds/1", nil)
	if can(r, "stop", "builders/a/builds/1") {
		t.Error("an anonymous request may act on a non-loopback listener")
	}
	if !can(r.WithContext(auth.WithCaller(r.Context(), auth.Caller{Name: auth.AdminName, Admin: true})), "stop", "builders/a/builds/1") {
		t.Error("the admin may not act")
	}
}
