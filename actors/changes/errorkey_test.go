package changes

import "testing"

// Poll errors that differ only in the timings git puts in them are one
// error (logged once), others are not.
func TestErrorKeyIgnoresTimings(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"fatal: unable to access 'http://h/r.git/': Failed to connect to 127.0.0.1 port 4000 after 0 ms: Couldn't connect to server",
			"fatal: unable to access 'http://h/r.git/': Failed to connect to 127.0.0.1 port 4000 after 12 ms: Couldn't connect to server", true},
		{"Failed to connect to 127.0.0.1 port 4000 after 0 ms", "Failed to connect to 127.0.0.1 port 4001 after 0 ms", false},
		{"repository not found", "authentication failed", false},
	} {
		if got := errorKey(tc.a) == errorKey(tc.b); got != tc.same {
			t.Errorf("errorKey(%q) == errorKey(%q): %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
