package httpserve

import "testing"

// TestServedCounts: a listener counts the requests its handlers answered,
// across the Servers that served on it, and the time the handlers took.
func TestServedCounts(t *testing.T) {
	l := bound(t, Limits{})
	url := "http://" + l.Addr().String() + "/"
	if n, took := l.Served(); n != 0 || took != 0 {
		t.Fatalf("a new listener served %d requests in %v", n, took)
	}
	first := Serve(l, text("first"), quiet)
	get(url)
	get(url)
	first.Close()
	second := Serve(l, text("second"), quiet)
	defer second.Close()
	if got := get(url); got != "second" {
		t.Fatalf("second server answered %q", got)
	}
	if n, took := l.Served(); n != 3 || took <= 0 {
		t.Errorf("served %d requests in %v, want 3 in some time", n, took)
	}
}
