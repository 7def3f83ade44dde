package worker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/msgpack"
	"github.com/buildmaster/buildmaster/internal/wire/wiretest"
)

// cmdTimeout bounds each wait of these tests.
const cmdTimeout = testkit.DefaultTimeout

// testMaster is the master side of the protocol (internal/wire/msgpack's
// Server) on a bound listener, with the passwords the test sets.
type testMaster struct {
	addr  string
	conns chan wire.Conn
	mu    sync.Mutex
	pw    map[string]string
}

func (m *testMaster) Password(_ context.Context, name, _ string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pw[name]
	return p, ok, nil
}

func (m *testMaster) setPassword(name, pw string) {
	m.mu.Lock()
	m.pw[name] = pw
	m.mu.Unlock()
}

func startMaster(t *testing.T, tlsCfg *tls.Config) *testMaster {
	t.Helper()
	m := &testMaster{conns: make(chan wire.Conn, 4), pw: map[string]string{"w1": "pw-w1"}}
	srv, err := msgpack.NewServer(m, func(c wire.Conn) { m.conns <- c }, msgpack.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l := testkit.Listen(t)
	m.addr = l.Addr().String()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg}
	go func() {
		if tlsCfg != nil {
			_ = hs.ServeTLS(l, "", "")
		} else {
			_ = hs.Serve(l)
		}
	}()
	t.Cleanup(func() { srv.Close("test over"); hs.Close() })
	return m
}

// connect starts buildworker w1 against m and returns its connection, with
// builder b1 (directory b1) set up.
func connect(t *testing.T, m *testMaster, extra ...string) (*workerProc, wire.Conn, string) {
	t.Helper()
	dir := t.TempDir()
	w := startWorker(t, append([]string{"--master", m.addr, "--name", "w1", "--basedir", dir}, extra...), "50ms", PasswordEnv+"=pw-w1")
	conn := testkit.Recv(t, "the worker's login", m.conns)
	w.connected(1)
	if err := conn.SetBuilderList(t.Context(), map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	return w, conn, dir
}

// sink collects a command's updates and its end.
type sink struct {
	mu      sync.Mutex
	updates []wire.Update
	done    chan error
}

func newSink() *sink { return &sink{done: make(chan error, 1)} }

func (s *sink) Update(us []wire.Update) {
	s.mu.Lock()
	s.updates = append(s.updates, us...)
	s.mu.Unlock()
}

func (s *sink) Complete(err error) { s.done <- err }

// wait waits for the end and returns the output of key, and rc (-99 when none).
func (s *sink) wait(t *testing.T) (out map[string]string, rc int64, vals map[string]any) {
	t.Helper()
	if err := testkit.Recv(t, "the command's end", s.done); err != nil {
		t.Fatalf("Complete(%v)", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, rc, vals = map[string]string{}, -99, map[string]any{}
	for _, u := range s.updates {
		switch u.Key {
		case "stdout", "stderr", "header":
			out[u.Key] += u.Text
		case "rc":
			rc = u.Int
		case "elapsed":
			vals[u.Key] = u.Float
		default:
			vals[u.Key] = u.Value
		}
	}
	return out, rc, vals
}

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

// transfer is the Sink of a transfer: an upload written to got, a
// download read from src.
type transfer struct {
	*sink
	got                  bytes.Buffer
	src                  *bytes.Reader
	closed, unpacked     bool
	readClosed           bool
	accessTime, modified float64
}

func (x *transfer) Write(p []byte) error { x.got.Write(p); return nil }
func (x *transfer) Utime(a, m float64) error {
	x.accessTime, x.modified = a, m
	return nil
}
func (x *transfer) Unpack() error      { x.unpacked = true; return nil }
func (x *transfer) CloseUpload() error { x.closed = true; return nil }
func (x *transfer) Read(n int) ([]byte, error) {
	b := make([]byte, n)
	k, _ := x.src.Read(b)
	return b[:k], nil
}
func (x *transfer) CloseDownload() error { x.readClosed = true; return nil }

func run(t *testing.T, conn wire.Conn, id, name string, args map[string]any, s wire.Sink) {
	t.Helper()
	if err := conn.StartCommand(t.Context(), wire.Command{ID: id, Builder: "b1", Name: name, Args: args, Sink: s}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestBadOptionsFailAtOnce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for name, o := range map[string]Options{
		"no master":       {Name: "w", Password: "secret", Basedir: dir},
		"bad master":      {Master: "nohostport", Name: "w", Password: "secret", Basedir: dir},
		"bad scheme":      {Master: "http://127.0.0.1:1", Name: "w", Password: "secret", Basedir: dir},
		"ca without wss":  {Master: "127.0.0.1:1", Name: "w", Password: "secret", Basedir: dir, CAFile: file},
		"cert, no key":    {Master: "wss://127.0.0.1:1", Name: "w", Password: "secret", Basedir: dir, CertFile: file},
		"no name":         {Master: "127.0.0.1:1", Password: "secret", Basedir: dir},
		"colon in name":   {Master: "127.0.0.1:1", Name: "a:b", Password: "secret", Basedir: dir},
		"no password":     {Master: "127.0.0.1:1", Name: "w", Basedir: dir},
		"missing basedir": {Master: "127.0.0.1:1", Name: "w", Password: "secret", Basedir: filepath.Join(dir, "nope")},
		"basedir a file":  {Master: "127.0.0.1:1", Name: "w", Password: "secret", Basedir: file},
	} {
		if err := Run(context.Background(), o); err == nil {
			t.Errorf("%s: Run started", name)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password", name)
		}
	}
}

func TestCLIRefusesMissingPassword(t *testing.T) {
	var out, errb bytes.Buffer
	t.Setenv(PasswordEnv, "")
	code := Main([]string{"--master", "127.0.0.1:1", "--name", "w", "--basedir", t.TempDir()}, &out, &errb)
	if code != ExitUsage || !strings.Contains(errb.String(), "no password") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	empty := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(empty, []byte("\n"), 0o600)
	errb.Reset()
	if code := Main([]string{"--master", "127.0.0.1:1", "--name", "w", "--basedir", t.TempDir(), "--password-file", empty}, &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), "is empty") {
		t.Fatalf("empty password file: exit %d, stderr %q", code, errb.String())
	}
}

func TestDefaultBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: BackoffMax, 100: BackoffMax} {
		for range 20 {
			d := DefaultBackoff(n)
			if d > want || d < want-time.Duration(BackoffJitter*float64(want)) {
				t.Fatalf("DefaultBackoff(%d) = %s, want %s less up to %.0f%%", n, d, want, BackoffJitter*100)
			}
		}
	}
}

// TestLoginRefusedThenAccepted: a refused login is retried with the
// back-off and logged at error level once; once the master accepts, the
// worker is connected. The password is in no log line, nor in the worker
// info's environment; the info has the files of BASEDIR/info.
func TestLoginRefusedThenAccepted(t *testing.T) {
	m := startMaster(t, nil)
	m.setPassword("w1", "something-else")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "info"), 0o755)
	os.WriteFile(filepath.Join(dir, "info", "admin"), []byte("Ada <ada@example.com>\n"), 0o644)
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("pw-w1\n"), 0o600)
	w := startWorker(t, []string{"--master", "ws://" + m.addr, "--name", "w1", "--basedir", dir, "--password-file", pwFile}, "20ms")
	w.logs.wait(t, "a second refusal", 0, cmdTimeout, func(l logLine) bool {
		return l.msg == "cannot connect to the master" && l.level == "INFO" && strings.Contains(l.raw, "refused")
	})
	m.setPassword("w1", "pw-w1")
	conn := testkit.Recv(t, "the worker's login", m.conns)
	w.connected(1)
	errors := 0
	for _, l := range w.logs.all() {
		if l.level == "ERROR" {
			errors++
		}
		if strings.Contains(l.raw, "pw-w1") {
			t.Fatalf("the password in a log line: %s", l.raw)
		}
	}
	if errors != 1 {
		t.Fatalf("%d error lines for one refusal", errors)
	}
	info, err := conn.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	env, _ := info["environ"].(map[string]any)
	if info["admin"] != "Ada <ada@example.com>\n" || info["basedir"] != dir || info["system"] != "posix" || env == nil || env[PasswordEnv] != nil {
		t.Fatalf("info %v", info)
	}
	if cmds, _ := info["worker_commands"].(map[string]any); cmds["shell"] != commandVersion || cmds["uploadDirectory"] == nil {
		t.Fatalf("worker_commands %v", info["worker_commands"])
	}
}

// TestShell: output and rc of shell commands; the workdir is made; env
// expands; output comes in order.
func TestShell(t *testing.T) {
	m := startMaster(t, nil)
	_, conn, dir := connect(t, m)
	s := newSink()
	run(t, conn, "ok", "shell", map[string]any{"workdir": "build", "command": []any{"sh", "-c", "pwd; echo $GREETING; echo oops >&2; for i in 1 2 3; do echo line$i; done"},
		"env": map[string]any{"GREETING": "hi ${HOME}x", "DROP": nil}, "logEnviron": false, "timeout": int64(60)}, s)
	out, rc, vals := s.wait(t)
	home, _ := os.UserHomeDir()
	if rc != 0 || out["stdout"] != filepath.Join(dir, "b1", "build")+"\nhi "+home+"x\nline1\nline2\nline3\n" || out["stderr"] != "oops\n" {
		t.Fatalf("rc %d out %q", rc, out)
	}
	if e, _ := vals["elapsed"].(float64); e <= 0 || !strings.Contains(out["header"], "elapsedTime=") {
		t.Fatalf("elapsed %v, header %q", e, out["header"])
	}
	s = newSink()
	run(t, conn, "fail", "shell", map[string]any{"workdir": "build", "command": "echo no; exit 3", "want_stdout": false}, s)
	if out, rc, _ := s.wait(t); rc != 3 || out["stdout"] != "" || !strings.Contains(out["header"], "echo no; exit 3") {
		t.Fatalf("rc %d out %q", rc, out)
	}
	// Arguments that are wrong end the command with a failure.
	s = newSink()
	run(t, conn, "bad", "shell", map[string]any{"workdir": "build", "command": int64(5)}, s)
	if err := testkit.Recv(t, "the bad command's end", s.done); err == nil || !strings.Contains(err.Error(), `argument "command"`) {
		t.Fatalf("Complete(%v)", err)
	}
	// An unknown command is refused at the start.
	if err := conn.StartCommand(t.Context(), wire.Command{ID: "x", Builder: "b1", Name: "frobnicate", Args: map[string]any{}, Sink: newSink()}); err == nil ||
		!strings.Contains(err.Error(), "frobnicate") {
		t.Fatalf("unknown command: %v", err)
	}
}

// TestInterruptKillsProcessGroup: an interrupt kills the command's whole
// process group; it ends with rc -1 and "command interrupted".
func TestInterruptKillsProcessGroup(t *testing.T) {
	m := startMaster(t, nil)
	_, conn, dir := connect(t, m)
	pidFile := filepath.Join(dir, "child.pid")
	s := newSink()
	run(t, conn, "sleep", "shell", map[string]any{"workdir": "build", "command": fmt.Sprintf("sleep 1000 & echo $! > %s; echo started; wait", pidFile), "logEnviron": false}, s)
	testkit.Eventually(t, "the command's start", func() bool { return strings.Contains(s.text("stdout"), "started") })
	child := readPid(t, pidFile)
	if err := wiretest.Interrupt(t, conn, "b1", "sleep", "stop it"); err != nil {
		t.Fatal(err)
	}
	out, rc, _ := s.wait(t)
	if rc != -1 || !strings.Contains(out["header"], "command interrupted") {
		t.Fatalf("rc %d header %q", rc, out["header"])
	}
	gone(t, child)
}

// TestFileCommands: mkdir, stat, glob, listdir, cpdir, rmfile, rmdir, with
// Buildbot's rc and keys; a failure says why in the header with its errno.
func TestFileCommands(t *testing.T) {
	m := startMaster(t, nil)
	_, conn, dir := connect(t, m)
	b1 := filepath.Join(dir, "b1")
	cmd := func(name string, args map[string]any) (map[string]string, int64, map[string]any) {
		t.Helper()
		s := newSink()
		run(t, conn, name+strconv.Itoa(int(time.Now().UnixNano())), name, args, s)
		return s.wait(t)
	}
	if _, rc, _ := cmd("mkdir", map[string]any{"dir": []any{"a/b", "c"}}); rc != 0 {
		t.Fatalf("mkdir rc %d", rc)
	}
	os.WriteFile(filepath.Join(b1, "a/b/f.txt"), []byte("12345"), 0o644)
	if _, rc, vals := cmd("stat", map[string]any{"workdir": "a/b", "file": "f.txt"}); rc != 0 || vals["stat"].([]any)[6] != int64(5) {
		t.Fatalf("stat rc %d %v", rc, vals)
	}
	if out, rc, _ := cmd("stat", map[string]any{"workdir": "a/b", "file": "none"}); rc != int64(syscall.ENOENT) || !strings.Contains(out["header"], "stat:") {
		t.Fatalf("stat of nothing: rc %d %q", rc, out)
	}
	if _, rc, vals := cmd("glob", map[string]any{"path": "a/b/*.txt"}); rc != 0 || !slices.Equal(vals["files"].([]any), []any{filepath.Join(b1, "a/b/f.txt")}) {
		t.Fatalf("glob rc %d %v", rc, vals)
	}
	if _, rc, vals := cmd("listdir", map[string]any{"dir": "a"}); rc != 0 || !slices.Equal(vals["files"].([]any), []any{"b"}) {
		t.Fatalf("listdir rc %d %v", rc, vals)
	}
	if _, rc, _ := cmd("cpdir", map[string]any{"fromdir": "a", "todir": "copy/a"}); rc != 0 {
		t.Fatalf("cpdir rc %d", rc)
	}
	if b, _ := os.ReadFile(filepath.Join(b1, "copy/a/b/f.txt")); string(b) != "12345" {
		t.Fatalf("cpdir copied %q", b)
	}
	if _, rc, _ := cmd("rmfile", map[string]any{"path": "a/b/f.txt"}); rc != 0 {
		t.Fatalf("rmfile rc %d", rc)
	}
	if _, rc, _ := cmd("rmdir", map[string]any{"dir": "copy"}); rc != 0 {
		t.Fatalf("rmdir rc %d", rc)
	}
	if _, err := os.Stat(filepath.Join(b1, "copy")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rmdir left %v", err)
	}
}

// TestTransfers: upload_file (with keepstamp, and past maxsize),
// upload_directory (a tar of the tree), download_file (with mode).
func TestTransfers(t *testing.T) {
	m := startMaster(t, nil)
	_, conn, dir := connect(t, m)
	build := filepath.Join(dir, "b1", "build")
	os.MkdirAll(filepath.Join(build, "docs", "sub"), 0o755)
	content := make([]byte, 5000)
	rand.Read(content)
	os.WriteFile(filepath.Join(build, "out.bin"), content, 0o644)
	os.WriteFile(filepath.Join(build, "docs", "sub", "a.txt"), []byte("alpha\n"), 0o644)
	stamp := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(build, "out.bin"), stamp, stamp)

	x := &transfer{sink: newSink()}
	run(t, conn, "up", "uploadFile", map[string]any{"workdir": "build", "workersrc": "out.bin", "blocksize": int64(1024), "maxsize": nil, "keepstamp": true}, x)
	if _, rc, _ := x.wait(t); rc != 0 || !bytes.Equal(x.got.Bytes(), content) || !x.closed || x.modified != float64(stamp.Unix()) {
		t.Fatalf("upload: rc %d, %d bytes, closed %v, mtime %v", rc, x.got.Len(), x.closed, x.modified)
	}
	x = &transfer{sink: newSink()}
	run(t, conn, "up-max", "uploadFile", map[string]any{"workdir": "build", "workersrc": "out.bin", "blocksize": int64(1024), "maxsize": int64(3000)}, x)
	if out, rc, _ := x.wait(t); rc != 1 || x.closed || !strings.Contains(out["stderr"], "Maximum filesize reached") {
		t.Fatalf("upload over maxsize: rc %d, closed %v, %q", rc, x.closed, out)
	}
	x = &transfer{sink: newSink()}
	run(t, conn, "up-none", "uploadFile", map[string]any{"workdir": "build", "workersrc": "none", "blocksize": int64(1024)}, x)
	if out, rc, _ := x.wait(t); rc != 1 || !strings.Contains(out["stderr"], "Cannot open file") {
		t.Fatalf("upload of nothing: rc %d %q", rc, out)
	}

	x = &transfer{sink: newSink()}
	run(t, conn, "updir", "uploadDirectory", map[string]any{"workdir": "build", "workersrc": "docs", "blocksize": int64(512), "compress": nil}, x)
	if _, rc, _ := x.wait(t); rc != 0 || !x.unpacked {
		t.Fatalf("upload_directory: rc %d, unpacked %v", rc, x.unpacked)
	}
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(x.got.Bytes()))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	if files["sub/a.txt"] != "alpha\n" || len(files) != 2 {
		t.Fatalf("the tar holds %v", files)
	}

	src := make([]byte, 10000)
	rand.Read(src)
	x = &transfer{sink: newSink(), src: bytes.NewReader(src)}
	run(t, conn, "down", "downloadFile", map[string]any{"workdir": "build", "workerdest": "in/data.bin", "blocksize": int64(4096), "maxsize": nil, "mode": int64(0o640)}, x)
	if _, rc, _ := x.wait(t); rc != 0 || !x.readClosed {
		t.Fatalf("download: rc %d, closed %v", rc, x.readClosed)
	}
	got, err := os.ReadFile(filepath.Join(build, "in", "data.bin"))
	if !bytes.Equal(got, src) {
		t.Fatalf("downloaded %d bytes: %v", len(got), err)
	}
	if st, _ := os.Stat(filepath.Join(build, "in", "data.bin")); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode())
	}
	x = &transfer{sink: newSink(), src: bytes.NewReader(src)}
	run(t, conn, "down-max", "downloadFile", map[string]any{"workdir": "build", "workerdest": "small.bin", "blocksize": int64(4096), "maxsize": int64(100)}, x)
	if out, rc, _ := x.wait(t); rc != 1 || !strings.Contains(out["stderr"], "Maximum filesize reached") {
		t.Fatalf("download over maxsize: rc %d %q", rc, out)
	}
	if _, err := os.Stat(filepath.Join(build, "small.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a download over maxsize left %v", err)
	}
}

// TestShutdown: the master's shutdown ends the worker, exit 0.
func TestShutdown(t *testing.T) {
	m := startMaster(t, nil)
	w, conn, _ := connect(t, m)
	if err := conn.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code := w.wait(cmdTimeout); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestSignalStops: SIGTERM kills the running commands and ends the worker
// with exit 0.
func TestSignalStops(t *testing.T) {
	m := startMaster(t, nil)
	w, conn, dir := connect(t, m)
	pidFile := filepath.Join(dir, "pid")
	s := newSink()
	run(t, conn, "sleep", "shell", map[string]any{"workdir": "build", "command": fmt.Sprintf("echo $$ > %s; echo started; sleep 1000", pidFile)}, s)
	testkit.Eventually(t, "the command's start", func() bool { return strings.Contains(s.text("stdout"), "started") })
	pid := readPid(t, pidFile)
	w.signal(syscall.SIGTERM)
	if code := w.wait(cmdTimeout); code != 0 {
		t.Fatalf("exit %d", code)
	}
	gone(t, pid)
}

// TestLostMasterReconnects: a master that drops the connection
// mid-command: the command is killed and the worker connects again by
// itself.
func TestLostMasterReconnects(t *testing.T) {
	m := startMaster(t, nil)
	w, conn, dir := connect(t, m)
	pidFile := filepath.Join(dir, "pid")
	s := newSink()
	run(t, conn, "sleep", "shell", map[string]any{"workdir": "build", "command": fmt.Sprintf("echo $$ > %s; echo started; sleep 1000", pidFile)}, s)
	testkit.Eventually(t, "the command's start", func() bool { return strings.Contains(s.text("stdout"), "started") })
	pid := readPid(t, pidFile)
	conn.Close("the test drops the worker")
	if err := testkit.Recv(t, "the command's end", s.done); !errors.Is(err, wire.ErrConnectionLost) {
		t.Fatalf("Complete(%v)", err)
	}
	gone(t, pid)
	testkit.Recv(t, "the worker's second login", m.conns)
	w.connected(2)
}

// TestWSS: over TLS the worker trusts the CA it is given, and nothing
// else.
func TestWSS(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	m := startMaster(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, certPEM, 0o644)
	bad := startWorker(t, []string{"--master", "wss://" + m.addr, "--name", "w1", "--basedir", t.TempDir()}, "20ms", PasswordEnv+"=pw-w1")
	bad.logs.wait(t, "the refused certificate", 0, cmdTimeout, func(l logLine) bool {
		return l.msg == "cannot connect to the master" && strings.Contains(l.raw, "certificate")
	})
	bad.signal(syscall.SIGTERM)
	bad.wait(cmdTimeout)
	w := startWorker(t, []string{"--master", "wss://" + m.addr, "--name", "w1", "--basedir", t.TempDir(), "--ca", ca}, "20ms", PasswordEnv+"=pw-w1")
	testkit.Recv(t, "the worker's login over TLS", m.conns)
	w.connected(1)
}

// selfSigned makes a certificate for 127.0.0.1, and its key, as PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test master"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// gone waits until process pid no longer runs (it may stay a zombie for
// the moment its new parent takes to reap it).
func gone(t *testing.T, pid int) {
	t.Helper()
	isGone := func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		return len(f) > 0 && f[0] == "Z"
	}
	t.Cleanup(func() {
		if t.Failed() && !isGone() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	testkit.Eventually(t, fmt.Sprintf("process %d gone", pid), isGone)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testkit.Eventually(t, "the pid in "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}
