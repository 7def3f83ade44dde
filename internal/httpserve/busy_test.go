package httpserve

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

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

// TestStreamsCountedApart: a WebSocket (a request asking for an upgrade)
// and an event stream, however long they last, add nothing to the
// requests' count and time; they are counted as streams.
func TestStreamsCountedApart(t *testing.T) {
	l := bound(t, Limits{})
	var clock atomic.Int64 // fake time, in ns
	l.busy.now = func() time.Time { return time.Unix(0, clock.Load()) }
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		clock.Add(int64(time.Millisecond))
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: x\n\n")
		clock.Add(int64(time.Hour))
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, _ *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		clock.Add(int64(time.Hour))
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
	})
	srv := Serve(l, mux, quiet)
	defer srv.Close()
	base := "http://" + l.Addr().String()
	if got := get(base + "/"); got != "ok" {
		t.Fatalf("GET / answered %q", got)
	}
	if got := get(base + "/sse"); got != "data: x\n\n" {
		t.Fatalf("GET /sse answered %q", got)
	}
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if b, _ := io.ReadAll(c); !strings.HasPrefix(string(b), "HTTP/1.1 101 ") {
		t.Fatalf("upgrade answered %q", b)
	}
	testkit.Eventually(t, "three requests counted", func() bool { n, _ := l.Served(); return n+l.Streams() == 3 })
	if n := l.Streams(); n != 2 {
		t.Errorf("%d streams counted, want 2", n)
	}
	if n, took := l.Served(); n != 1 || took != time.Millisecond {
		t.Errorf("served %d requests in %v, want the one of 1ms (the streams apart)", n, took)
	}
}
