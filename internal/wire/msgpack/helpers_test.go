package msgpack

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// waitLimit only guards against a hung test; no assertion depends on it.
const waitLimit = 30 * time.Second

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

func waitDone(t testing.TB, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("%s did not happen", what)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// limitedFor is the wait a limited testAuth asks for.
const limitedFor = 7 * time.Second

// testAuth knows a few workers; it records every login result.
type testAuth struct {
	mu      sync.Mutex
	users   map[string]string
	limited bool
	results []string
	heard   chan<- string // if set, gets every result too
}

func (a *testAuth) Password(_ context.Context, name, _ string) (string, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.limited {
		return "", false, wire.RateLimited(limitedFor)
	}
	p, ok := a.users[name]
	return p, ok, nil
}

func (a *testAuth) LoginResult(name, _ string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := "fail"
	if ok {
		r = "ok"
	}
	a.results = append(a.results, name+":"+r)
	select {
	case a.heard <- name + ":" + r:
	default:
	}
	select {
	case a.heard <- name + ":" + r:
	default:
	}
}

func (a *testAuth) Results() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.results...)
}

// syncBuffer is a log destination tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// master is a Server on a real 127.0.0.1 listener.
type master struct {
	srv   *Server
	url   string
	addr  string
	auth  *testAuth
	conns chan wire.Conn
	logs  *syncBuffer
}

// startMaster serves a Server on 127.0.0.1; setup runs before it serves.
func startMaster(t testing.TB, opts ServerOptions, setup ...func(*Server)) *master {
	t.Helper()
	return serveMaster(t, opts, nil, setup...)
}

// serveMaster is startMaster serving through wrap(listener) when wrap is
// not nil (tests that count or shrink the master's socket writes).
func serveMaster(t testing.TB, opts ServerOptions, wrap func(net.Listener) net.Listener, setup ...func(*Server)) *master {
	t.Helper()
	m := &master{
		auth:  &testAuth{users: map[string]string{"w1": "pa:ss", "w2": "secret2"}},
		conns: make(chan wire.Conn, 8),
		logs:  &syncBuffer{},
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(m.logs, newTestWriter(t)), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := NewServer(m.auth, func(c wire.Conn) { m.conns <- c }, opts)
	if err != nil {
		t.Fatal(err)
	}
	m.srv = srv
	for _, f := range setup {
		f(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = l.Addr().String()
	m.url = "ws://" + m.addr
	if wrap != nil {
		l = wrap(l)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() {
		srv.Close("test over")
		_ = hs.Close()
	})
	return m
}

// testWriter sends log lines to t.Log, so a failing test shows them,
// until the test ends (connections may log a little later).
type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	over bool
}

func newTestWriter(t testing.TB) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.over = true
		w.mu.Unlock()
	})
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.over {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func basic(name, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+pass))
}

// raw is a hand-driven worker: it sends and reads frames itself.
type raw struct {
	t  testing.TB
	ws *websocket.Conn
}

func dialRaw(t testing.TB, url, auth string) *raw {
	t.Helper()
	ws, _, err := websocket.Dial(testCtx(t), url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {auth}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(-1)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &raw{t: t, ws: ws}
}

func (r *raw) send(f frame) {
	r.t.Helper()
	b, err := encodeFrame(f)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.ws.Write(testCtx(r.t), websocket.MessageBinary, b); err != nil {
		r.t.Fatal(err)
	}
}

// read returns the next frame, or the error that ended the connection.
func (r *raw) read() (frame, error) {
	_, b, err := r.ws.Read(testCtx(r.t))
	if err != nil {
		return nil, err
	}
	return decodeFrame(b)
}

func (r *raw) must() frame {
	r.t.Helper()
	f, err := r.read()
	if err != nil {
		r.t.Fatal(err)
	}
	return f
}

// answer replies to request f with result.
func (r *raw) answer(f frame, result any) {
	r.t.Helper()
	seq, _ := f.int("seq_number")
	r.send(frame{"op": "response", "seq_number": seq, "result": result})
}

// login answers get_worker_info and set_worker_settings.
func (r *raw) login() {
	r.t.Helper()
	f := r.must()
	if f["op"] != "get_worker_info" {
		r.t.Fatalf("first request is %v, want get_worker_info", f["op"])
	}
	r.answer(f, map[string]any{"basedir": "/w", "system": "posix"})
	f = r.must()
	if f["op"] != "set_worker_settings" {
		r.t.Fatalf("second request is %v, want set_worker_settings", f["op"])
	}
	r.answer(f, nil)
}

// closeStatus reads until the connection ends and returns its close status.
func (r *raw) closeStatus() (websocket.StatusCode, string) {
	for {
		_, err := r.read()
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			return -1, err.Error()
		}
	}
}

// sink records what a master-side command got.
type sink struct {
	mu       sync.Mutex
	updates  []wire.Update
	complete chan error
}

func newSink() *sink { return &sink{complete: make(chan error, 2)} }

func (s *sink) Update(us []wire.Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates = append(s.updates, us...)
}

func (s *sink) Complete(err error) { s.complete <- err }

func (s *sink) Updates() []wire.Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Update(nil), s.updates...)
}

// ended waits for Complete and checks it came once.
func (s *sink) ended(t testing.TB) error {
	t.Helper()
	err := recv(t, s.complete, "Complete")
	select {
	case err2 := <-s.complete:
		t.Fatalf("Complete called twice: %v, then %v", err, err2)
	default:
	}
	return err
}

// transfer is the Sink of uploads and downloads.
type transfer struct {
	*sink
	mu           sync.Mutex
	got          bytes.Buffer
	src          *bytes.Reader
	reads        []int
	closed       bool
	unpacked     bool
	readClosed   bool
	atime, mtime float64
}

func newTransfer(src []byte) *transfer {
	return &transfer{sink: newSink(), src: bytes.NewReader(src)}
}

func (x *transfer) Write(p []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.got.Write(p)
	return nil
}

func (x *transfer) Utime(a, m float64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.atime, x.mtime = a, m
	return nil
}

func (x *transfer) Unpack() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.unpacked = true
	return nil
}

func (x *transfer) CloseUpload() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	return nil
}

func (x *transfer) Read(n int) ([]byte, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.reads = append(x.reads, n)
	b := make([]byte, n)
	k, err := x.src.Read(b)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return b[:k], err
}

func (x *transfer) CloseDownload() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.readClosed = true
	return nil
}
