package msgpack

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/wiretest"
)

var capture = flag.Bool("capture", false, "write the real worker's frames to testdata/frames (FuzzDecode's seeds)")

// buildbotWorker finds Debian's buildbot-worker: a missing one fails the
// test in CI and skips it elsewhere.
func buildbotWorker(t *testing.T) string {
	p, err := exec.LookPath("buildbot-worker")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("buildbot-worker is not installed (apt-get install -y buildbot-worker): %v", err)
		}
		t.Skip("buildbot-worker is not installed (apt-get install -y buildbot-worker); with CI=true this test fails instead")
	}
	return p
}

// frameLog keeps every frame of the test's connection.
type frameLog struct {
	mu     sync.Mutex
	frames []capturedFrame
}

type capturedFrame struct {
	in bool
	b  []byte
}

func (l *frameLog) add(in bool, b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frames = append(l.frames, capturedFrame{in, slices.Clone(b)})
}

// sent lists the ops the master sent, start_command as
// "start_command <name>".
func (l *frameLog) sent(t *testing.T) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ops []string
	for _, f := range l.frames {
		if f.in {
			continue
		}
		m, err := decodeFrame(f.b)
		if err != nil {
			t.Fatal(err)
		}
		op, _ := m.str("op")
		if op == "response" {
			continue
		}
		if name, ok := m.str("command_name"); ok {
			op += " " + name
		}
		ops = append(ops, op)
	}
	return ops
}

// save writes the first frame of each kind the worker sent to
// testdata/frames.
func (l *frameLog) save(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	dir := filepath.Join("testdata", "frames")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range l.frames {
		m, err := decodeFrame(f.b)
		if err != nil || !f.in || len(f.b) > 16<<10 {
			continue
		}
		kind, _ := m.str("op")
		if upd, ok := m["args"].([]any); ok && kind == "update" {
			for _, u := range upd {
				kind += "-" + fmt.Sprint(u.([]any)[0])
			}
		}
		switch m["result"].(type) {
		case map[string]any:
			kind += "-map"
		case string:
			kind += "-str"
		}
		if seen[kind] || len(seen) >= 40 {
			continue
		}
		seen[kind] = true
		if err := os.WriteFile(filepath.Join(dir, kind+".msgpack"), f.b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// realWorker runs `buildbot-worker start --nodaemon` in a new basedir
// pointed at m, as worker w1.
type realWorker struct {
	basedir string
	cmd     *exec.Cmd
	out     *syncBuffer
}

func startRealWorker(t *testing.T, m *master, password string) *realWorker {
	bin := buildbotWorker(t)
	basedir := filepath.Join(t.TempDir(), "worker")
	// A small environment: the worker sends its environ to the master
	// (and -capture writes it to testdata).
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + filepath.Dir(basedir), "LANG=C.UTF-8"}
	create := exec.Command(bin, "create-worker", "--protocol", "msgpack_experimental_v7", basedir, m.addr, "w1", password)
	create.Env = env
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("create-worker: %v\n%s", err, out)
	}
	w := &realWorker{basedir: basedir, out: &syncBuffer{}}
	w.cmd = exec.Command(bin, "start", "--nodaemon", basedir)
	w.cmd.Env = env
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(waitLimit):
			_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(basedir, "twistd.log"))
			t.Logf("buildbot-worker output:\n%s\ntwistd.log:\n%s", w.out, log)
		}
	})
	return w
}

// run starts one command on builder b1 and waits for its end.
func run(t *testing.T, conn wire.Conn, id, name string, args map[string]any, s wire.Sink) {
	t.Helper()
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: id, Builder: "b1", Name: name, Args: args, Sink: s}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// results folds a command's updates: output per key, other keys' last
// value.
type results struct {
	out map[string]string
	rc  *int64
	val map[string]any
}

func fold(us []wire.Update) results {
	r := results{out: map[string]string{}, val: map[string]any{}}
	for _, u := range us {
		switch {
		case u.Key == "stdout" || u.Key == "stderr" || u.Key == "header" || u.Key == "log":
			r.out[u.Key] += u.Text
		case u.Key == "rc":
			rc := u.Int
			r.rc = &rc
		default:
			r.val[u.Key] = u.Value
		}
	}
	return r
}

// finished waits for s's end and returns its results; rc must be want.
func finished(t *testing.T, what string, s *sink, want int64) results {
	t.Helper()
	if err := s.ended(t); err != nil {
		t.Fatalf("%s: Complete(%v)", what, err)
	}
	r := fold(s.Updates())
	if r.rc == nil || *r.rc != want {
		t.Fatalf("%s: rc %v, want %d; updates %+v", what, r.rc, want, s.Updates())
	}
	return r
}

// TestRealWorker runs Debian's buildbot-worker 3.7 against the Server:
// login, info, the connection sequence, every command.
func TestRealWorker(t *testing.T) {
	frames := &frameLog{}
	m := startMaster(t, ServerOptions{}, func(s *Server) { s.onFrame = frames.add })
	w := startRealWorker(t, m, "pa:ss")
	conn := recv(t, m.conns, "the worker's login")
	ctx := testCtx(t)

	// The connection sequence of Buildbot's master (§4.1).
	if err := conn.Print(ctx, "attached"); err != nil {
		t.Fatal(err)
	}
	info, err := conn.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"admin", "host", "version", "numcpus", "os_id", "basedir", "environ", "worker_commands"} {
		if _, ok := info[k]; !ok {
			t.Errorf("info has no %s: %v", k, info)
		}
	}
	if info["basedir"] != w.basedir || info["version"] != "3.7.0-2" && !strings.HasPrefix(fmt.Sprint(info["version"]), "3.7") {
		t.Errorf("basedir %v, version %v", info["basedir"], info["version"])
	}
	if n, ok := info["numcpus"].(int64); !ok || n < 1 {
		t.Errorf("numcpus %#v", info["numcpus"])
	}
	if err := conn.SetBuilderList(ctx, map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"get_worker_info", "set_worker_settings", "print", "get_worker_info", "start_command listdir", "start_command mkdir"}
	if got := frames.sent(t); !reflect.DeepEqual(got, want) {
		t.Errorf("master sent %v, want %v", got, want)
	}
	if log, _ := os.ReadFile(filepath.Join(w.basedir, "twistd.log")); !bytes.Contains(log, []byte("message from master: attached")) {
		t.Error(`the worker did not log "message from master: attached"`)
	}
	for _, d := range []string{"b1", "info"} {
		if st, err := os.Stat(filepath.Join(w.basedir, d)); err != nil || !st.IsDir() {
			t.Errorf("%s was not made: %v", d, err)
		}
	}
	build := filepath.Join(w.basedir, "b1", "build")

	t.Run("shell", func(t *testing.T) {
		s := newSink()
		run(t, conn, "sh-ok", "shell", map[string]any{"workdir": "build", "command": []any{"sh", "-c", "pwd; echo oops >&2"},
			"want_stdout": 1, "want_stderr": 1, "timeout": 60, "usePTY": false, "logEnviron": false}, s)
		r := finished(t, "shell", s, 0)
		if r.out["stdout"] != build+"\n" || r.out["stderr"] != "oops\n" {
			t.Errorf("stdout %q stderr %q", r.out["stdout"], r.out["stderr"])
		}
		for _, u := range s.Updates() {
			if u.Key == "elapsed" && (u.Float <= 0 || u.Value != nil) {
				t.Errorf("elapsed update %+v, want a Float", u)
			}
		}
	})
	t.Run("shell fails", func(t *testing.T) {
		s := newSink()
		run(t, conn, "sh-fail", "shell", map[string]any{"workdir": "build", "command": "exit 1", "logEnviron": false}, s)
		finished(t, "shell", s, 1)
	})
	t.Run("interrupt", func(t *testing.T) {
		s := newSink()
		run(t, conn, "sleep", "shell", map[string]any{"workdir": "build", "command": []any{"sleep", "100"}, "logEnviron": false}, s)
		if err := wiretest.Interrupt(t, conn, "b1", "sleep", "stop requested"); err != nil {
			t.Fatal(err)
		}
		if err := s.ended(t); err != nil {
			t.Fatalf("Complete(%v)", err)
		}
		r := fold(s.Updates())
		if r.rc == nil || *r.rc == 0 {
			t.Errorf("rc %v after an interrupt", r.rc)
		}
		if !strings.Contains(r.out["header"], "command interrupted") {
			t.Errorf("header %q", r.out["header"])
		}
	})

	t.Run("interrupt right after start", func(t *testing.T) {
		// As the master's connection writes them: the interrupt follows
		// the start without waiting for its answer.
		s := newSink()
		conn.Start(wire.Command{ID: "sleep-at-once", Builder: "b1", Name: "shell", Sink: s,
			Args: map[string]any{"workdir": "build", "command": []any{"sleep", "100"}, "logEnviron": false}})
		answered := make(chan error, 1)
		if err := conn.Interrupt("b1", "sleep-at-once", "stop requested", func(err error) { answered <- err }); err != nil {
			t.Fatal(err)
		}
		if err := recv(t, answered, "the interrupt's answer"); err != nil {
			t.Fatal(err)
		}
		if err := s.ended(t); err != nil {
			t.Fatalf("Complete(%v)", err)
		}
		r := fold(s.Updates())
		if r.rc == nil || *r.rc == 0 || !strings.Contains(r.out["header"], "command interrupted") {
			t.Errorf("rc %v, header %q: not interrupted", r.rc, r.out["header"])
		}
	})

	content := make([]byte, 5000)
	_, _ = rand.Read(content)
	if err := os.WriteFile(filepath.Join(build, "out.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	stamp := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(build, "out.bin"), stamp, stamp); err != nil {
		t.Fatal(err)
	}
	t.Run("upload_file", func(t *testing.T) {
		x := newTransfer(nil)
		run(t, conn, "up", "uploadFile", map[string]any{"workdir": "build", "workersrc": "out.bin",
			"blocksize": 1024, "maxsize": nil, "keepstamp": true}, x)
		finished(t, "upload_file", x.sink, 0)
		if !bytes.Equal(x.got.Bytes(), content) || !x.closed {
			t.Errorf("uploaded %d bytes (intact: %v), closed %v", x.got.Len(), bytes.Equal(x.got.Bytes(), content), x.closed)
		}
		if x.mtime != float64(stamp.Unix()) {
			t.Errorf("mtime %v, want %v", x.mtime, stamp.Unix())
		}
	})
	t.Run("upload_file over maxsize", func(t *testing.T) {
		x := newTransfer(nil)
		run(t, conn, "up-max", "uploadFile", map[string]any{"workdir": "build", "workersrc": "out.bin",
			"blocksize": 1024, "maxsize": 3000}, x)
		r := finished(t, "upload_file", x.sink, 1)
		if x.got.Len() != 3000 || !strings.Contains(r.out["stderr"], "Maximum filesize reached") {
			t.Errorf("uploaded %d bytes; stderr %q", x.got.Len(), r.out["stderr"])
		}
	})
	t.Run("upload_directory", func(t *testing.T) {
		if err := os.MkdirAll(filepath.Join(build, "docs", "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(build, "docs", "sub", "a.txt"), []byte("alpha\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		x := newTransfer(nil)
		run(t, conn, "updir", "uploadDirectory", map[string]any{"workdir": "build", "workersrc": "docs",
			"blocksize": 512, "maxsize": nil, "compress": nil}, x)
		finished(t, "upload_directory", x.sink, 0)
		if !x.unpacked {
			t.Error("no unpack")
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
		if files["sub/a.txt"] != "alpha\n" {
			t.Errorf("tar holds %v", files)
		}
	})
	t.Run("download_file", func(t *testing.T) {
		src := make([]byte, 10000)
		_, _ = rand.Read(src)
		x := newTransfer(src)
		run(t, conn, "down", "downloadFile", map[string]any{"workdir": "build", "workerdest": "in/data.bin",
			"blocksize": 4096, "maxsize": nil, "mode": 0o640}, x)
		finished(t, "download_file", x.sink, 0)
		got, err := os.ReadFile(filepath.Join(build, "in", "data.bin"))
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("downloaded %d bytes (intact: %v), %v", len(got), bytes.Equal(got, src), err)
		}
		if st, err := os.Stat(filepath.Join(build, "in", "data.bin")); err != nil || st.Mode().Perm() != 0o640 {
			t.Errorf("mode %v, %v", st.Mode(), err)
		}
		if !x.readClosed {
			t.Error("the read was not closed")
		}
	})
	t.Run("file commands", func(t *testing.T) {
		s := newSink()
		run(t, conn, "stat", "stat", map[string]any{"workdir": "build", "file": "out.bin"}, s)
		st, _ := finished(t, "stat", s, 0).val["stat"].([]any)
		if len(st) != 10 || st[0].(int64)&0o170000 != 0o100000 || st[6] != int64(len(content)) {
			t.Errorf("stat %v", st)
		}
		s = newSink()
		run(t, conn, "glob", "glob", map[string]any{"path": "build/*.bin"}, s)
		if got := finished(t, "glob", s, 0).val["files"]; !reflect.DeepEqual(got, []any{filepath.Join(build, "out.bin")}) {
			t.Errorf("glob files %v", got)
		}
		s = newSink()
		run(t, conn, "ls", "listdir", map[string]any{"dir": "build"}, s)
		var names []string
		for _, f := range finished(t, "listdir", s, 0).val["files"].([]any) {
			names = append(names, f.(string))
		}
		sort.Strings(names)
		if want := []string{"docs", "in", "out.bin"}; !reflect.DeepEqual(names, want) {
			t.Errorf("listdir %v, want %v", names, want)
		}
		s = newSink()
		run(t, conn, "cp", "cpdir", map[string]any{"fromdir": "build/docs", "todir": "copy", "logEnviron": false}, s)
		finished(t, "cpdir", s, 0)
		if b, err := os.ReadFile(filepath.Join(w.basedir, "b1", "copy", "sub", "a.txt")); string(b) != "alpha\n" {
			t.Errorf("cpdir copy: %q %v", b, err)
		}
		s = newSink()
		run(t, conn, "rmd", "rmdir", map[string]any{"dir": "copy", "logEnviron": false}, s)
		finished(t, "rmdir", s, 0)
		if _, err := os.Stat(filepath.Join(w.basedir, "b1", "copy")); !os.IsNotExist(err) {
			t.Errorf("rmdir left copy: %v", err)
		}
		s = newSink()
		run(t, conn, "rmf", "rmfile", map[string]any{"path": "build/out.bin"}, s)
		finished(t, "rmfile", s, 0)
		if _, err := os.Stat(filepath.Join(build, "out.bin")); !os.IsNotExist(err) {
			t.Errorf("rmfile left out.bin: %v", err)
		}
		s = newSink()
		run(t, conn, "mkd", "mkdir", map[string]any{"dir": []any{"new/a", "new/b"}}, s)
		finished(t, "mkdir", s, 0)
		for _, d := range []string{"new/a", "new/b"} {
			if st, err := os.Stat(filepath.Join(w.basedir, "b1", d)); err != nil || !st.IsDir() {
				t.Errorf("mkdir %s: %v", d, err)
			}
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		s := newSink()
		err := conn.StartCommand(ctx, wire.Command{ID: "x", Builder: "b1", Name: "frobnicate", Args: map[string]any{}, Sink: s})
		var re *RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Message, "frobnicate") {
			t.Errorf("StartCommand = %v", err)
		}
		if got := s.ended(t); got != err {
			t.Errorf("Complete(%v)", got)
		}
	})
	if *capture {
		frames.save(t)
	}

	if err := conn.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, conn.Done(), "the connection's end after shutdown")
}

// TestRealWorkerRefused: a wrong password is refused at the upgrade.
func TestRealWorkerRefused(t *testing.T) {
	heard := make(chan string, 16)
	m := startMaster(t, ServerOptions{}, func(s *Server) { s.auth.(*testAuth).heard = heard })
	startRealWorker(t, m, "wrong")
	if r := recv(t, heard, "a login attempt"); r != "w1:fail" {
		t.Errorf("login result %q, want w1:fail", r)
	}
	select {
	case c := <-m.conns:
		t.Errorf("accepted %v", c.Name())
	default:
	}
}

// TestRealWorkerKilled: kill -9 of the worker mid-command completes the
// command with ErrConnectionLost.
func TestRealWorkerKilled(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := startRealWorker(t, m, "pa:ss")
	conn := recv(t, m.conns, "the worker's login")
	ctx := testCtx(t)
	if _, err := conn.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetBuilderList(ctx, map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	s := newSink()
	// A command that outlives nothing: it ends once the worker is gone.
	wait := "while kill -0 $PPID 2>/dev/null; do sleep 0.2; done"
	run(t, conn, "wait", "shell", map[string]any{"workdir": "build", "command": []any{"sh", "-c", wait}, "logEnviron": false}, s)
	if err := syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := s.ended(t); !errors.Is(err, wire.ErrConnectionLost) {
		t.Errorf("Complete(%v), want ErrConnectionLost", err)
	}
	waitDone(t, conn.Done(), "the connection's end")
}
