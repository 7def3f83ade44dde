package pb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// wait is how long a test waits for an event before failing: generous,
// as a Python worker on a busy 2-core machine is slow to start.
const wait = 60 * time.Second

// passwords is the Authenticator of the tests: worker name → password.
type passwords map[string]string

func (p passwords) Password(_ context.Context, name, _ string) (string, bool, error) {
	pw, ok := p[name]
	return pw, ok, nil
}

// testServer runs a Server on 127.0.0.1 and hands out the connections
// it accepts.
type testServer struct {
	*Server
	addr  string
	conns chan wire.Conn
}

func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, cfg, l)
}

// startServerOn is startServer on l, which it closes.
func startServerOn(t testing.TB, cfg Config, l net.Listener) *testServer {
	t.Helper()
	ts := &testServer{conns: make(chan wire.Conn, 4)}
	if cfg.Auth == nil {
		cfg.Auth = passwords{"w1": "pass1"}
	}
	if cfg.Accept == nil {
		cfg.Accept = func(_ context.Context, c wire.Conn) error {
			ts.conns <- c
			return nil
		}
	}
	if cfg.Log == nil {
		cfg.Log = testLogger(t)
	}
	s, err := NewServer(cfg)
	if err != nil {
		_ = l.Close()
		t.Fatal(err)
	}
	ts.Server, ts.addr = s, l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = l.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
	})
	return ts
}

func (ts *testServer) next(t testing.TB) wire.Conn {
	t.Helper()
	select {
	case c := <-ts.conns:
		return c
	case <-time.After(wait):
		t.Fatal("no worker logged in")
		return nil
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// buildbotWorker finds Debian's buildbot-worker: missing, the test is
// skipped, or fails when CI=true.
func buildbotWorker(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("buildbot-worker")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("buildbot-worker is not installed (apt-get install buildbot-worker): %v", err)
		}
		t.Skip("buildbot-worker is not installed (apt-get install buildbot-worker)")
	}
	return path
}

// realWorker is a stock buildbot-worker process.
type realWorker struct {
	basedir string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// startWorker creates a worker in a temporary directory and runs it in
// the foreground until the test ends.
func startWorker(t testing.TB, addr, name, password string, extra ...string) *realWorker {
	t.Helper()
	bin := buildbotWorker(t)
	basedir := filepath.Join(t.TempDir(), "worker")
	args := append([]string{"create-worker", "--keepalive=600"}, extra...)
	args = append(args, basedir, addr, name, password)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("create-worker: %v\n%s", err, out)
	}
	for file, content := range map[string]string{"admin": "Ada <ada@example.com>\n", "host": "test host\n"} {
		if err := os.WriteFile(filepath.Join(basedir, "info", file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "start", "--nodaemon", basedir)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + basedir, "LANG=C.UTF-8"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &realWorker{basedir: basedir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.exited
		if t.Failed() {
			t.Logf("worker output:\n%s\ntwistd.log:\n%s", out.String(), w.log())
		}
	})
	return w
}

func (w *realWorker) log() string {
	b, _ := os.ReadFile(filepath.Join(w.basedir, "twistd.log"))
	return string(b)
}

// sink records what a worker sends about one command.
type sink struct {
	mu          sync.Mutex
	updates     []wire.Update
	updateCalls int
	done        chan struct{}
	err         error
	calls       int // Complete calls
}

func newSink() *sink { return &sink{done: make(chan struct{})} }

func (s *sink) Update(u []wire.Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates = append(s.updates, u...)
	s.updateCalls++
}

func (s *sink) Complete(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls == 1 {
		s.err = err
		close(s.done)
	}
}

// wait waits for Complete and returns its error.
func (s *sink) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(wait):
		t.Fatal("the command never completed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// text joins the Text of the updates with key.
func (s *sink) text(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, u := range s.updates {
		if u.Key == key {
			b.WriteString(u.Text)
		}
	}
	return b.String()
}

// last returns the last update with key.
func (s *sink) last(key string) (wire.Update, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.updates) - 1; i >= 0; i-- {
		if s.updates[i].Key == key {
			return s.updates[i], true
		}
	}
	return wire.Update{}, false
}

// rc returns the command's rc update, failing the test without one.
func (s *sink) rc(t testing.TB) int64 {
	t.Helper()
	u, ok := s.last("rc")
	if !ok {
		t.Fatalf("no rc among the updates %+v", s.updates)
	}
	return u.Int
}

// uploader is an Uploader into memory.
type uploader struct {
	*sink
	mu       sync.Mutex
	data     bytes.Buffer
	closed   bool
	unpacked bool
	atime    float64
	mtime    float64
}

func (u *uploader) Write(p []byte) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data.Write(p)
	return nil
}

func (u *uploader) Utime(a, m float64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.atime, u.mtime = a, m
	return nil
}

func (u *uploader) Unpack() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.unpacked = true
	return nil
}

func (u *uploader) CloseUpload() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
	return nil
}

// downloader is a Downloader from memory.
type downloader struct {
	*sink
	r      *bytes.Reader
	closed bool
	reads  []int
}

func (d *downloader) Read(n int) ([]byte, error) {
	d.reads = append(d.reads, n)
	p := make([]byte, n)
	k, err := d.r.Read(p)
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	return p[:k], err
}

func (d *downloader) CloseDownload() error {
	d.closed = true
	return nil
}

func wireCommand(id, builder, name string, args map[string]any, s wire.Sink) wire.Command {
	return wire.Command{ID: id, Builder: builder, Name: name, Args: args, Sink: s}
}
