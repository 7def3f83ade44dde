package addrbucket

import "testing"

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:80":          "192.0.2.1",
		"192.0.2.1":             "192.0.2.1",
		"[::ffff:192.0.2.1]:80": "192.0.2.1",
		"[2001:db8::1%eth0]:80": "2001:db8::/64",
		"2001:db8:0:0:1::1":     "2001:db8::/64",
		"@":                     "@", // a unix socket peer
		"not an address":        "not an address",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}
