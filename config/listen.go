package config

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// hostName is a DNS host name: dot-separated labels of letters, digits and
// inner hyphens.
var hostName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)
})

// listenAddr is a parsed listen.* address.
type listenAddr struct {
	host string
	port int
}

// anyHost reports whether a listens on every interface (0.0.0.0 or ::),
// and so collides with any other address on the same port.
func (a listenAddr) anyHost() bool {
	ip, err := netip.ParseAddr(a.host)
	return err == nil && ip.IsUnspecified()
}

// collides reports whether a and b cannot both be listened on.
func (a listenAddr) collides(b listenAddr) bool {
	return a.port == b.port && (strings.EqualFold(a.host, b.host) || a.anyHost() || b.anyHost())
}

// parseListen parses a "host:port" listen address. The host is required (a
// name or an IP; IPv6 in brackets) and the port must be a number 0–65535
// (0: the system picks a free port when the master binds it).
// The error is a phrase that follows the quoted address in a message.
func parseListen(addr string) (listenAddr, string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return listenAddr{}, "is not host:port (e.g. 127.0.0.1:8010)"
	}
	if host == "" {
		return listenAddr{}, "has no host; use 0.0.0.0:" + port + " to listen on every interface"
	}
	if _, err := netip.ParseAddr(host); err != nil && (len(host) > 253 || !hostName().MatchString(host)) {
		return listenAddr{}, "has an invalid host " + strconv.Quote(host)
	}
	n, ok := digits(port, 5)
	if !ok || n > 65535 {
		return listenAddr{}, "has port " + strconv.Quote(port) + "; want a number from 0 to 65535"
	}
	return listenAddr{host: host, port: n}, ""
}

// digits parses s, which must be 1 to maxLen decimal digits.
func digits(s string, maxLen int) (int, bool) {
	if s == "" || len(s) > maxLen || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
