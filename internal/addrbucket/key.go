package addrbucket

import (
	"net"
	"net/netip"
)

// Key is the source of remote (an address, with or without a port): the IP
// without its port (IPv4-mapped IPv6 as IPv4), an IPv6 address's /64 (what
// one host can freely choose from), or remote itself when it is not an IP
// address.
func Key(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return remote
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
