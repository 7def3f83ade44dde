package pb

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/wiretest"
)

// These tests run Debian's buildbot-worker 3.7 (PB is its default
// protocol) against the Server. Commands are given as the msgpack
// protocol names them, with absolute paths, as the master's other
// protocol does; the Server rewrites them for PB.

// workerSession is a logged-in stock worker with builder b1.
type workerSession struct {
	w    *realWorker
	c    wire.Conn
	b1   string // the builder's directory on the worker
	next int
}

func newWorkerSession(t *testing.T, cfg Config, extra ...string) *workerSession {
	ts := startServer(t, cfg)
	w := startWorker(t, ts.addr, "w1", "pass1", extra...)
	c := ts.next(t)
	if err := c.SetBuilderList(context.Background(), map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	return &workerSession{w: w, c: c, b1: filepath.Join(w.basedir, "b1")}
}

// run starts a command on b1 and waits for it to complete.
func (ws *workerSession) run(t *testing.T, name string, args map[string]any, s wire.Sink) error {
	t.Helper()
	ws.next++
	if err := ws.c.StartCommand(context.Background(), wireCommand(fmt.Sprint(ws.next), "b1", name, args, s)); err != nil {
		return err
	}
	type waiter interface{ wait(testing.TB) error }
	return s.(waiter).wait(t)
}

func TestRealWorker(t *testing.T) {
	ws := newWorkerSession(t, Config{})
	ctx := context.Background()

	t.Run("Info", func(t *testing.T) {
		info, err := ws.c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]any{
			"admin": "Ada <ada@example.com>\n", "host": "test host\n", "system": "posix",
			"basedir": ws.w.basedir, "os_id": "debian",
		} {
			if info[key] != want {
				t.Errorf("info[%q] = %#v, want %#v", key, info[key], want)
			}
		}
		if v, _ := info["version"].(string); !strings.HasPrefix(v, "3.7") {
			t.Errorf("version %#v", info["version"])
		}
		if n, _ := info["numcpus"].(int64); n < 1 {
			t.Errorf("numcpus %#v", info["numcpus"])
		}
		cmds, _ := info["worker_commands"].(map[string]any)
		if cmds["shell"] != "3.1" || cmds["uploadFile"] == nil {
			t.Errorf("worker_commands %v", cmds)
		}
		if env, _ := info["environ"].(map[string]any); env["LANG"] != "C.UTF-8" {
			t.Errorf("environ %v", info["environ"])
		}
	})

	t.Run("PrintAndKeepalive", func(t *testing.T) {
		if err := ws.c.Print(ctx, "hello from the test"); err != nil {
			t.Fatal(err)
		}
		if err := ws.c.Keepalive(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Shell", func(t *testing.T) {
		s := newSink()
		err := ws.run(t, "shell", map[string]any{
			"workdir": filepath.Join(ws.b1, "build"), "command": []string{"echo", "hello"},
			"env": map[string]any{"GREETING": "hi"}, "timeout": 60, "logEnviron": false,
		}, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.text("stdout"); got != "hello\n" {
			t.Errorf("stdout %q", got)
		}
		if rc := s.rc(t); rc != 0 {
			t.Errorf("rc %d", rc)
		}
		if u, ok := s.last("elapsed"); !ok || u.Float <= 0 {
			t.Errorf("elapsed %+v", u)
		}
	})

	t.Run("ShellFails", func(t *testing.T) {
		s := newSink()
		err := ws.run(t, "shell", map[string]any{
			"workdir": filepath.Join(ws.b1, "build"), "command": "echo oops >&2; exit 3",
		}, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.text("stderr"); got != "oops\n" {
			t.Errorf("stderr %q", got)
		}
		if rc := s.rc(t); rc != 3 {
			t.Errorf("rc %d, want 3", rc)
		}
	})

	t.Run("UnknownCommand", func(t *testing.T) {
		s := newSink()
		err := ws.c.StartCommand(ctx, wireCommand("x1", "b1", "nosuchcommand", nil, s))
		var re *RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Type, "UnknownCommand") {
			t.Fatalf("err %v, want the worker's UnknownCommand", err)
		}
		if got := s.wait(t); got == nil || got.Error() != err.Error() {
			t.Errorf("Complete(%v), want the StartCommand error", got)
		}
	})

	t.Run("Interrupt", func(t *testing.T) {
		// The worker answers startCommand once the process is spawned.
		s := newSink()
		err := ws.c.StartCommand(ctx, wireCommand("sleep", "b1", "shell", map[string]any{
			"workdir": filepath.Join(ws.b1, "build"), "command": []string{"sleep", "100"},
		}, s))
		if err != nil {
			t.Fatal(err)
		}
		if err := wiretest.Interrupt(t, ws.c, "b1", "sleep", "the test interrupts"); err != nil {
			t.Fatal(err)
		}
		if err := s.wait(t); err != nil {
			t.Fatal(err)
		}
		if rc := s.rc(t); rc != -1 {
			t.Errorf("rc %d, want -1 (killed)", rc)
		}
		if !strings.Contains(s.text("header"), "command interrupted") {
			t.Errorf("header %q", s.text("header"))
		}
	})

	t.Run("InterruptRightAfterStart", func(t *testing.T) {
		// As the master's connection writes them: the interrupt follows
		// the start without waiting for its answer.
		s := newSink()
		ws.c.Start(wireCommand("sleep-at-once", "b1", "shell", map[string]any{
			"workdir": filepath.Join(ws.b1, "build"), "command": []string{"sleep", "100"},
		}, s))
		answered := make(chan error, 1)
		if err := ws.c.Interrupt("b1", "sleep-at-once", "the test interrupts", func(err error) { answered <- err }); err != nil {
			t.Fatal(err)
		}
		if err := s.wait(t); err != nil {
			t.Fatal(err)
		}
		if err := testkit.Recv(t, "the interrupt's answer", answered); err != nil {
			t.Fatal(err)
		}
		if rc := s.rc(t); rc != -1 {
			t.Errorf("rc %d, want -1 (killed)", rc)
		}
		if !strings.Contains(s.text("header"), "command interrupted") {
			t.Errorf("header %q", s.text("header"))
		}
	})

	blob := make([]byte, 70000)
	_, _ = rand.Read(blob)
	blobPath := filepath.Join(ws.b1, "build", "sub", "blob.bin")

	t.Run("DownloadFile", func(t *testing.T) {
		d := &downloader{sink: newSink(), r: bytes.NewReader(blob)}
		err := ws.run(t, "download_file", map[string]any{
			"path": blobPath, "blocksize": 16384, "maxsize": nil, "mode": 0o600,
			"workdir": "build", "workerdest": "ignored",
		}, d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(blobPath)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, blob) {
			t.Errorf("the downloaded file differs: %d bytes, want %d", len(got), len(blob))
		}
		if fi, _ := os.Stat(blobPath); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode())
		}
		if !d.closed || len(d.reads) != 6 || d.reads[0] != 16384 {
			t.Errorf("reads %v, closed %v", d.reads, d.closed)
		}
		if rc := d.rc(t); rc != 0 {
			t.Errorf("rc %d", rc)
		}
	})

	t.Run("UploadFile", func(t *testing.T) {
		u := &uploader{sink: newSink()}
		err := ws.run(t, "upload_file", map[string]any{
			"path": blobPath, "blocksize": 32768, "maxsize": nil, "keepstamp": true,
		}, u)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(u.data.Bytes(), blob) {
			t.Errorf("the uploaded file differs: %d bytes", u.data.Len())
		}
		fi, _ := os.Stat(blobPath)
		if !u.closed || int64(u.mtime) != fi.ModTime().Unix() {
			t.Errorf("closed %v, mtime %v, want %v", u.closed, u.mtime, fi.ModTime().Unix())
		}
	})

	t.Run("UploadDirectory", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(ws.b1, "build", "sub", "a.txt"), []byte("in sub\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		u := &uploader{sink: newSink()}
		err := ws.run(t, "upload_directory", map[string]any{
			"path": filepath.Join(ws.b1, "build", "sub"), "blocksize": 16384, "maxsize": nil, "compress": nil,
		}, u)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		tr := tar.NewReader(&u.data)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name], _ = io.ReadAll(tr)
		}
		if string(files["a.txt"]) != "in sub\n" || !bytes.Equal(files["blob.bin"], blob) || !u.unpacked {
			t.Errorf("tar entries %v, unpacked %v", slices.Sorted(mapKeys(files)), u.unpacked)
		}
	})

	t.Run("FileCommands", func(t *testing.T) {
		build := filepath.Join(ws.b1, "build")
		check := func(name string, args map[string]any) *sink {
			t.Helper()
			s := newSink()
			if err := ws.run(t, name, args, s); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if rc := s.rc(t); rc != 0 {
				t.Fatalf("%s: rc %d, updates %+v", name, rc, s.updates)
			}
			return s
		}
		check("mkdir", map[string]any{"paths": []string{filepath.Join(build, "new", "deep")}})
		if fi, err := os.Stat(filepath.Join(build, "new", "deep")); err != nil || !fi.IsDir() {
			t.Errorf("mkdir: %v", err)
		}
		check("cpdir", map[string]any{"from_path": filepath.Join(build, "sub"), "to_path": filepath.Join(build, "copy")})
		if b, err := os.ReadFile(filepath.Join(build, "copy", "a.txt")); err != nil || string(b) != "in sub\n" {
			t.Errorf("cpdir: %q %v", b, err)
		}
		stat, _ := check("stat", map[string]any{"path": filepath.Join(build, "copy", "a.txt")}).last("stat")
		if st, _ := stat.Value.([]any); len(st) != 10 || st[6] != int64(7) {
			t.Errorf("stat %v, want 10 fields with size 7", stat.Value)
		}
		files, _ := check("listdir", map[string]any{"path": build}).last("files")
		if got := sortedStrings(files.Value); fmt.Sprint(got) != "[copy new sub]" {
			t.Errorf("listdir %v", got)
		}
		globbed, _ := check("glob", map[string]any{"path": filepath.Join(build, "*", "a.txt")}).last("files")
		if got := sortedStrings(globbed.Value); fmt.Sprint(got) != fmt.Sprint([]string{filepath.Join(build, "copy", "a.txt"), filepath.Join(build, "sub", "a.txt")}) {
			t.Errorf("glob %v", got)
		}
		check("rmfile", map[string]any{"path": filepath.Join(build, "copy", "a.txt")})
		if _, err := os.Stat(filepath.Join(build, "copy", "a.txt")); !os.IsNotExist(err) {
			t.Errorf("rmfile left the file: %v", err)
		}
		check("rmdir", map[string]any{"paths": []string{filepath.Join(build, "copy"), filepath.Join(build, "new")}})
		for _, d := range []string{"copy", "new"} {
			if _, err := os.Stat(filepath.Join(build, d)); !os.IsNotExist(err) {
				t.Errorf("rmdir left %s: %v", d, err)
			}
		}
		// A failing one: stat of a missing file gives rc 2.
		s := newSink()
		if err := ws.run(t, "stat", map[string]any{"path": filepath.Join(build, "missing")}, s); err != nil {
			t.Fatal(err)
		}
		if rc := s.rc(t); rc == 0 {
			t.Errorf("stat of a missing file: rc 0")
		}
	})

	t.Run("ConnectionLostCompletes", func(t *testing.T) {
		s := newSink()
		err := ws.c.StartCommand(ctx, wireCommand("lost", "b1", "shell", map[string]any{
			"workdir": filepath.Join(ws.b1, "build"), "command": []string{"sleep", "100"},
		}, s))
		if err != nil {
			t.Fatal(err)
		}
		ws.c.Close("the test drops the worker")
		if err := s.wait(t); !errors.Is(err, wire.ErrConnectionLost) {
			t.Errorf("Complete(%v), want wire.ErrConnectionLost (the wire.Conn contract)", err)
		}
		select {
		case <-ws.c.Done():
		case <-time.After(wait):
			t.Fatal("Done never closed")
		}
		if err := ws.c.Err(); !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "the test drops the worker") {
			t.Errorf("Err() = %v", err)
		}
		if err := ws.c.Print(ctx, "anyone?"); !errors.Is(err, ErrConnectionLost) {
			t.Errorf("Print after close: %v", err)
		}
	})
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func sortedStrings(v any) []string {
	var out []string
	for _, e := range asList(v) {
		out = append(out, text(e))
	}
	sort.Strings(out)
	return out
}

// TestRealWorkerShutdown: Shutdown stops the worker process.
func TestRealWorkerShutdown(t *testing.T) {
	ws := newWorkerSession(t, Config{})
	if err := ws.c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ws.w.exited:
	case <-time.After(wait):
		t.Fatal("the worker did not stop")
	}
	select {
	case <-ws.c.Done():
	case <-time.After(wait):
		t.Fatal("the connection did not end")
	}
}

// TestRealWorkerWrongPassword: the worker is refused with the failure it
// expects (UnauthorizedLogin), so it stays up and tries again.
func TestRealWorkerWrongPassword(t *testing.T) {
	logins := make(chan string, 8)
	auth := authFunc(func(name string) (string, bool, error) {
		logins <- name
		return "pass1", true, nil
	})
	ts := startServer(t, Config{Auth: auth, Accept: func(context.Context, wire.Conn) error {
		t.Error("a worker with a wrong password was accepted")
		return nil
	}})
	w := startWorker(t, ts.addr, "w1", "wrong")
	for attempt := range 2 {
		select {
		case <-logins:
		case <-w.exited:
			t.Fatalf("the worker stopped after %d attempts instead of retrying", attempt)
		case <-time.After(wait):
			t.Fatalf("login attempt %d never came", attempt+1)
		}
	}
}

// TestRealWorkerRefused: an Accept error reaches the worker as the
// RuntimeError Buildbot sends for a duplicate worker, which stops it.
func TestRealWorkerRefused(t *testing.T) {
	ts := startServer(t, Config{Accept: func(context.Context, wire.Conn) error {
		return errors.New("rejecting duplicate worker")
	}})
	w := startWorker(t, ts.addr, "w1", "pass1")
	select {
	case <-w.exited:
	case <-time.After(wait):
		t.Fatal("the refused worker did not stop")
	}
	if log := w.log(); !strings.Contains(log, "rejecting duplicate worker") {
		t.Errorf("the worker did not log the refusal:\n%s", log)
	}
}

// TestRealWorkerKeepaliveAndGracefulShutdown: the worker's own keepalive
// calls are answered, and its graceful shutdown request (SIGHUP with
// --allow-shutdown=signal) reaches Config.ShutdownRequested.
func TestRealWorkerKeepaliveAndGracefulShutdown(t *testing.T) {
	requested := make(chan wire.Conn, 1)
	ws := newWorkerSession(t, Config{ShutdownRequested: func(c wire.Conn) { requested <- c }},
		"--keepalive=1", "--allow-shutdown=signal")
	deadline := time.After(wait)
	for !strings.Contains(ws.w.log(), "Master replied to keepalive") {
		select {
		case <-deadline:
			t.Fatal("the worker never logged an answered keepalive")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := ws.w.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-requested:
		if c.Name() != "w1" {
			t.Errorf("ShutdownRequested for %q", c.Name())
		}
	case <-time.After(wait):
		t.Fatal("ShutdownRequested was not called")
	}
}

type authFunc func(name string) (string, bool, error)

func (f authFunc) Password(_ context.Context, name, _ string) (string, bool, error) { return f(name) }
