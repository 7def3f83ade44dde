package eventstream

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/coder/websocket"
)

func TestWebSocketOrigin(t *testing.T) {
	t.Run("default: same host only", func(t *testing.T) {
		ts := start(t, Options{})
		ts.dial(t, nil) // no Origin: a script, not a browser
		ts.dial(t, http.Header{"Origin": {ts.url}})
		_, resp, err := ts.dialErr(t, http.Header{"Origin": {"https://evil.example"}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin upgrade: %v, %v", err, resp)
		}
	})
	t.Run("hook", func(t *testing.T) {
		var asked []string
		var mu sync.Mutex
		ts := start(t, Options{CheckOrigin: func(r *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, r.Header.Get("Origin"))
			return r.Header.Get("Origin") == "https://ui.example"
		}})
		c := ts.dial(t, http.Header{"Origin": {"https://ui.example"}})
		if got := c.call(`{"cmd":"ping","_id":1}`); got[0] != `{"msg":"pong","code":200,"_id":1}` {
			t.Errorf("got %q", got)
		}
		_, resp, err := ts.dialErr(t, http.Header{"Origin": {ts.url}})
		if err == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("origin refused by the hook: %v, %v", err, resp)
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(asked) != fmt.Sprint([]string{"https://ui.example", ts.url}) {
			t.Errorf("hook asked about %q", asked)
		}
	})
}

func TestWebSocketViewerRefused(t *testing.T) {
	ts := start(t, Options{Authorizer: &testAuthz{}})
	_, resp, err := ts.dialErr(t, user("nobody"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused viewer: %v, %v", err, resp)
	}
	if st := ts.srv.Stats(); st.WebSocketClients != 0 {
		t.Errorf("stats %+v", st)
	}
}

// The authorization hook is asked once per event class per connection.
func TestWebSocketAuthorizationAskedOncePerClass(t *testing.T) {
	a := &testAuthz{noClasses: map[string]bool{"builders/1": true}}
	ts := start(t, Options{Authorizer: a})
	c := ts.dial(t, user("bob"))
	c.call(`{"cmd":"startConsuming","path":"builds/*/*","_id":1}`)
	for i := range 3 {
		ts.publish(t, fmt.Sprintf("builds/%d/new", i+1), "builders/1", `{}`)
		ts.publish(t, fmt.Sprintf("builds/%d/new", i+1), "builders/2", `{}`)
		ts.publish(t, fmt.Sprintf("builds/%d/new", i+1), "", `{}`)
	}
	got := c.call(`{"cmd":"ping","_id":2}`)
	if len(got) != 7 {
		t.Errorf("got %d frames, want 6 events and the pong: %q", len(got), got)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if fmt.Sprint(a.asked) != "[bob:builders/1 bob:builders/2 bob:]" {
		t.Errorf("MayReceive calls: %q", a.asked)
	}
}

func TestMaxClients(t *testing.T) {
	ts := start(t, Options{Limits: Limits{MaxClients: 2}})
	first := ts.dial(t, nil)
	ts.listen(t, "/listen", nil)
	_, resp, err := ts.dialErr(t, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third client: %v, %v", err, resp)
	}
	if got := ts.answer(t, "/sse/listen/builds/*/*"); got != "503 too many event stream clients (limit 2)" {
		t.Errorf("third SSE client: %q", got)
	}
	if st := ts.srv.Stats(); st != (Stats{WebSocketClients: 1, SSEClients: 1, Refused: 2}) {
		t.Errorf("stats %+v", st)
	}
	first.c.Close(websocket.StatusNormalClosure, "")
	testkit.Eventually(t, "the closed client frees its place", func() bool { return ts.srv.Stats().WebSocketClients == 0 })
	ts.dial(t, nil).call(`{"cmd":"ping","_id":1}`)
}

func TestFrameTooLarge(t *testing.T) {
	ts := start(t, Options{Limits: Limits{MaxFrameBytes: 64}})
	c := ts.dial(t, nil)
	c.call(`{"cmd":"ping","_id":1}`)
	c.send(`{"cmd":"startConsuming","path":"` + strings.Repeat("x", 100) + `","_id":2}`)
	_, _, err := c.c.Read(t.Context())
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("read after an oversized frame: %v", err)
	}
	testkit.Eventually(t, "the client is gone", func() bool { return ts.srv.Stats().WebSocketClients == 0 })
}

func TestPingTimeout(t *testing.T) {
	// The client never reads, so it never answers a ping.
	ts := start(t, Options{Limits: Limits{PingInterval: time.Millisecond, PingTimeout: time.Millisecond}})
	ts.dial(t, nil)
	testkit.Eventually(t, "the silent client is closed", func() bool { return ts.srv.Stats().WebSocketClients == 0 })
	if st := ts.srv.Stats(); st.Dropped != 0 {
		t.Errorf("stats %+v: a silent client is not a slow one", st)
	}
}

func TestServerClose(t *testing.T) {
	ts := start(t, Options{})
	c := ts.dial(t, nil)
	c.call(`{"cmd":"ping","_id":1}`)
	ts.srv.Close()
	_, _, err := c.c.Read(t.Context())
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("read after Close: %v", err)
	}
	_, resp, err := ts.dialErr(t, nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v, %v", err, resp)
	}
}

// A client that does not read is dropped once its queue is full, while a
// client that keeps up receives every event in order. The publisher runs
// in the test's goroutine: had Publish waited for the stuck client, the
// test would hang instead of seeing the drop. Events go in rounds of the
// queue's size, which the client that keeps up reads before the next.
func TestSlowClientDropped(t *testing.T) {
	const buffer = 8
	ts := start(t, Options{Limits: Limits{Buffer: buffer}})
	stuck := ts.dial(t, nil)
	stuck.call(`{"cmd":"startConsuming","path":"builds/*/*","_id":1}`)
	fast := ts.dial(t, nil)
	fast.call(`{"cmd":"startConsuming","path":"builds/*/*","_id":1}`)

	body := `{"pad":"` + strings.Repeat("x", 64<<10) + `"}` // fills the socket buffers in a few hundred events
	n := 0
	for ts.bus.Stats().Dropped == 0 {
		if n > 100_000 {
			t.Fatal("the stuck client was never dropped")
		}
		for i := n + 1; i <= n+buffer; i++ {
			ts.publish(t, fmt.Sprintf("builds/%d/new", i), "", body)
		}
		for i := n + 1; i <= n+buffer; i++ {
			want := fmt.Sprintf(`{"k":"builds/%d/new",`, i)
			if got := fast.recv(); !strings.HasPrefix(got, want) {
				t.Fatalf("fast client got %.40s, want %s", got, want)
			}
		}
		n += buffer
	}
	testkit.Eventually(t, "the server counts the drop", func() bool {
		st := ts.srv.Stats()
		return st.Dropped == 1 && st.WebSocketClients == 1
	})
	// The stuck client finds its connection closed after what was sent.
	for {
		_, _, err := stuck.c.Read(t.Context())
		if err != nil {
			break
		}
	}
	// The fast client goes on.
	ts.publish(t, "builds/0/finished", "", `{}`)
	if got := fast.recv(); got != `{"k":"builds/0/finished","m":{}}` {
		t.Fatalf("fast client after the drop: %.60s", got)
	}
	if st := ts.bus.Stats(); st.Subscribers != 1 || st.Dropped != 1 {
		t.Errorf("bus stats %+v", st)
	}
	t.Logf("dropped after %d events of %d bytes", n, len(body))
}

// blockingAuthz holds the first MayReceive of a stream until released:
// an injected fault that stalls the stream's writer.
type blockingAuthz struct {
	entered chan struct{}
	release chan struct{}
}

func (a *blockingAuthz) Viewer(*http.Request) (Viewer, error) { return a, nil }
func (a *blockingAuthz) MayConsume(string) bool               { return true }
func (a *blockingAuthz) MayReceive(string) bool {
	a.entered <- struct{}{}
	<-a.release
	return true
}

// stall publishes one event that holds the writer in MayReceive, then
// enough to overflow the stream's queue, and lets the writer go.
func stall(t *testing.T, ts *testServer, a *blockingAuthz, buffer int) {
	ts.publish(t, "builds/1/new", "", `{}`)
	testkit.Recv(t, "the writer stalled", a.entered)
	for i := range buffer + 1 {
		ts.publish(t, fmt.Sprintf("builds/%d/update", i), "", `{}`)
	}
	if st := ts.bus.Stats(); st.Dropped != 1 {
		t.Fatalf("bus stats %+v, want the stream dropped", st)
	}
	close(a.release)
}

// A dropped client that can still be written to is told why: close 1013.
func TestDroppedClientToldWhy(t *testing.T) {
	a := &blockingAuthz{entered: make(chan struct{}), release: make(chan struct{})}
	ts := start(t, Options{Limits: Limits{Buffer: 2}, Authorizer: a})
	c := ts.dial(t, nil)
	c.call(`{"cmd":"startConsuming","path":"builds/*/*","_id":1}`)
	stall(t, ts, a, 2)
	_, _, err := c.c.Read(t.Context())
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater || ce.Reason != "client fell behind: too many events queued" {
		t.Fatalf("read after the drop: %v", err)
	}
	testkit.Eventually(t, "the server counts the drop", func() bool { return ts.srv.Stats().Dropped == 1 })
}

func TestSubscriptionEndsWithConnection(t *testing.T) {
	ts := start(t, Options{})
	c := ts.dial(t, nil)
	c.call(`{"cmd":"startConsuming","path":"builds/*/*","_id":1}`)
	c.call(`{"cmd":"startConsuming","path":"steps/*/*","_id":2}`)
	if st := ts.bus.Stats(); st.Subscribers != 1 || st.Filters != 2 {
		t.Fatalf("bus stats %+v", st)
	}
	c.c.Close(websocket.StatusNormalClosure, "bye")
	testkit.Eventually(t, "the bus forgets the closed client", func() bool {
		st := ts.bus.Stats()
		return st.Subscribers == 0 && st.Filters == 0 && ts.srv.Stats().WebSocketClients == 0
	})
}
