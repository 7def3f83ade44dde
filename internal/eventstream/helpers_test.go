package eventstream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/mq"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// testServer is a Server of a fresh bus behind a real HTTP server on
// 127.0.0.1.
type testServer struct {
	bus *mq.Bus
	srv *Server
	url string // http://127.0.0.1:PORT
}

func start(t testing.TB, opts Options) *testServer {
	t.Helper()
	bus := mq.New()
	srv := New(bus, opts)
	mux := http.NewServeMux()
	srv.Register(mux)
	ts := httptest.NewUnstartedServer(mux)
	ts.Listener.Close()
	ts.Listener = testkit.Listen(t)
	ts.Start()
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
		bus.Close()
	})
	return &testServer{bus: bus, srv: srv, url: ts.URL}
}

func (ts *testServer) publish(t testing.TB, key, class, body string) {
	t.Helper()
	if err := ts.bus.Publish(mq.Key(strings.Split(key, "/")), class, []byte(body)); err != nil {
		t.Fatal(err)
	}
}

// wsClient is a real WebSocket client of the test server.
type wsClient struct {
	t testing.TB
	c *websocket.Conn
}

func (ts *testServer) dial(t testing.TB, header http.Header) *wsClient {
	t.Helper()
	c, resp, err := ts.dialErr(t, header)
	if err != nil {
		t.Fatalf("dial /ws: %v (response %v)", err, resp)
	}
	return c
}

func (ts *testServer) dialErr(t testing.TB, header http.Header) (*wsClient, *http.Response, error) {
	c, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(ts.url, "http")+"/ws", &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(1 << 24)
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}, resp, nil
}

func (w *wsClient) send(frame string) {
	w.t.Helper()
	if err := w.c.Write(w.t.Context(), websocket.MessageText, []byte(frame)); err != nil {
		w.t.Fatalf("send %s: %v", frame, err)
	}
}

func (w *wsClient) recv() string {
	w.t.Helper()
	_, b, err := w.c.Read(w.t.Context())
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return string(b)
}

// call sends frame and returns the frames received up to and including
// its answer (the first frame that is not an event).
func (w *wsClient) call(frame string) []string {
	w.t.Helper()
	w.send(frame)
	var got []string
	for {
		f := w.recv()
		got = append(got, f)
		if !isEvent(f) {
			return got
		}
	}
}

func isEvent(frame string) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(frame), &m)
	_, ok := m["k"]
	return ok
}

// sseClient is a real SSE client: net/http reading the event stream.
type sseClient struct {
	t    testing.TB
	resp *http.Response
	r    *bufio.Reader
	id   string
}

// listen opens /sse/PATH-ish (rest is what follows /sse) and reads the
// handshake.
func (ts *testServer) listen(t testing.TB, rest string, header http.Header) *sseClient {
	t.Helper()
	resp := ts.get(t, "/sse"+rest, header)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /sse%s: %s", rest, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	c := &sseClient{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
	name, data := c.next()
	if name != "handshake" || data == "" {
		t.Fatalf("first event %q %q, want the handshake", name, data)
	}
	c.id = data
	return c
}

func (ts *testServer) get(t testing.TB, path string, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp
}

// answer is the status and body of a short request (add, remove, refused).
func (ts *testServer) answer(t testing.TB, path string) string {
	t.Helper()
	resp := ts.get(t, path, nil)
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		return fmt.Sprintf("%d event stream", resp.StatusCode) // would not end
	}
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(b.String()))
}

// next reads one SSE event (skipping comments), or fails the test if the
// stream ends.
func (c *sseClient) next() (name, data string) {
	c.t.Helper()
	name, data, err := c.nextErr()
	if err != nil {
		c.t.Fatalf("sse: %v", err)
	}
	return name, data
}

func (c *sseClient) nextErr() (name, data string, err error) {
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data, nil
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// testAuthz is the authorization hook of the tests: the viewer named by
// the X-Test-User header may not consume paths starting with one of
// noPaths, nor receive the classes in noClasses; user "nobody" is refused.
type testAuthz struct {
	noPaths   []string
	noClasses map[string]bool
	mu        sync.Mutex
	asked     []string // every MayReceive call, "user:class"
}

func (a *testAuthz) Viewer(r *http.Request) (Viewer, error) {
	u := r.Header.Get("X-Test-User")
	if u == "nobody" {
		return nil, fmt.Errorf("user %q may not watch", u)
	}
	return &testViewer{a: a, user: u}, nil
}

type testViewer struct {
	a    *testAuthz
	user string
}

func (v *testViewer) MayConsume(path string) bool {
	for _, p := range v.a.noPaths {
		if v.user != "" && strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

func (v *testViewer) MayReceive(class string) bool {
	v.a.mu.Lock()
	defer v.a.mu.Unlock()
	v.a.asked = append(v.a.asked, v.user+":"+class)
	return v.user == "" || !v.a.noClasses[class]
}

func user(name string) http.Header { return http.Header{"X-Test-User": {name}} }
