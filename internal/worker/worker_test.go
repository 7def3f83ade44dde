package worker

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// cmdTimeout bounds each wait of these tests.
const cmdTimeout = testkit.DefaultTimeout

// setup starts a fake master and a worker logged in to it.
func setup(t *testing.T, name string, keepalive time.Duration) (*peer, *workerProc, string) {
	t.Helper()
	return setupAt(t, "", name, keepalive)
}

// setupAt is setup with the peer listening on listen ("": a port it picks).
func setupAt(t *testing.T, listen, name string, keepalive time.Duration) (*peer, *workerProc, string) {
	t.Helper()
	p := startPeer(t, listen, keepalive)
	p.setPassword(name, "pw-"+name)
	dir := t.TempDir()
	w := startWorker(t, []string{"--master", p.addr, "--name", name, "--basedir", dir}, "50ms", PasswordEnv+"=pw-"+name)
	p.login(name, 1)
	w.connected(1)
	return p, w, dir
}

func shell(id, script string) *messages.StartCommand {
	return &messages.StartCommand{CommandId: id, Command: &messages.StartCommand_Shell{Shell: &messages.ShellCommand{Script: script}}}
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

// started: the command wrote "started" on stdout.
func started(e peerEvent, id string) bool {
	u := e.from.GetUpdate()
	return u.GetCommandId() == id && strings.Contains(output([]*messages.CommandUpdate{u}, messages.OutputStream_OUTPUT_STREAM_STDOUT), "started")
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

func TestBadOptionsFailAtOnce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for name, o := range map[string]Options{
		"no master":       {Name: "w", Password: "p", Basedir: dir},
		"bad master":      {Master: "nohostport", Name: "w", Password: "p", Basedir: dir},
		"no name":         {Master: "127.0.0.1:1", Password: "p", Basedir: dir},
		"no password":     {Master: "127.0.0.1:1", Name: "w", Basedir: dir},
		"missing basedir": {Master: "127.0.0.1:1", Name: "w", Password: "p", Basedir: filepath.Join(dir, "nope")},
		"basedir a file":  {Master: "127.0.0.1:1", Name: "w", Password: "p", Basedir: file},
		"bad listen":      {Master: "127.0.0.1:1", Name: "w", Password: "p", Basedir: dir, Listen: "x"},
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

// A refused login is retried with the back-off, its error logged once at
// error level; once the master accepts, the worker is connected.
func TestLoginRefusedThenAccepted(t *testing.T) {
	p := startPeer(t, "", time.Minute)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "info"), 0o755)
	os.WriteFile(filepath.Join(dir, "info", "admin"), []byte("Ada <ada@example.org>\n"), 0o644)
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("s3cret-pw\n"), 0o600)
	delays := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	w := startWorker(t, []string{"--master", p.addr, "--name", "w1", "--basedir", dir, "--password-file", pwFile},
		"100ms,200ms,300ms")
	var times []time.Time
	p.log.wait(t, "four refused logins", 0, cmdTimeout, func(e peerEvent) bool {
		if e.Ev == "login" && !e.OK {
			times = append(times, e.At)
		}
		return len(times) == 4
	})
	for i := 1; i < len(times); i++ {
		if gap, want := times[i].Sub(times[i-1]), delays[i-1]; gap < want {
			t.Errorf("attempt %d came %s after the one before, back-off %s", i+1, gap, want)
		}
	}
	p.setPassword("w1", "s3cret-pw")
	e := p.login("w1", 1)
	w.connected(1)

	errs := 0
	for _, l := range w.logs.all() {
		if strings.Contains(l.raw, "s3cret-pw") {
			t.Errorf("the password is logged: %s", l.raw)
		}
		if l.level == "ERROR" {
			errs++
			if !strings.Contains(l.raw, "wrong password for worker w1") {
				t.Errorf("error line without the master's reason: %s", l.raw)
			}
		}
	}
	if errs != 1 {
		t.Errorf("%d error lines for one distinct refusal, want 1", errs)
	}

	login := &messages.WorkerLogin{}
	if err := protojsonUnmarshal(e.Msg, login); err != nil {
		t.Fatal(err)
	}
	info := login.GetInfo()
	if info.GetBasedir() != dir || info.GetSystem() != runtime.GOOS || info.GetArch() != runtime.GOARCH ||
		info.GetNumcpus() < 1 || info.GetVersion() == "" || info.GetHostname() == "" ||
		!slices.Contains(info.GetCommands(), "shell") || info.GetInfo()["admin"] != "Ada <ada@example.org>" ||
		login.GetProtocolVersion() != messages.ProtocolVersion_PROTOCOL_VERSION_1 {
		t.Errorf("login info: %v", login)
	}
}

func TestKeepalivePrintAndPing(t *testing.T) {
	p, w, _ := setup(t, "w2", 100*time.Millisecond)
	n := 0
	p.log.wait(t, "three keepalives", 0, cmdTimeout, func(e peerEvent) bool {
		if e.from.GetKeepalive() != nil && e.Known && e.Name == "w2" {
			n++
		}
		return n == 3
	})
	p.send("w2", &messages.ToWorker{Kind: &messages.ToWorker_Print{Print: "hello worker"}})
	w.waitLog("message from master: hello worker")
	// What the master sent right after its answer to the login was kept.
	w.waitLog("message from master: attached")
	if c := p.complete("greet-1", cmdTimeout); c.GetRc() != 0 || c.GetError() != "" {
		t.Errorf("listdir right after the login: %v", c)
	}
}

func TestShellOutputInOrder(t *testing.T) {
	p, _, dir := setup(t, "w3", time.Minute)
	p.start("w3", shell("c1", "for i in $(seq 1 2000); do echo line $i; done; echo oops >&2; exit 3"))
	p.start("w3", &messages.StartCommand{CommandId: "c2", Command: &messages.StartCommand_Shell{Shell: &messages.ShellCommand{
		Argv: []string{"/bin/sh", "-c", "pwd; echo $FOO; echo ${BUILDWORKER_PASSWORD:-unset}"}, Workdir: "build/sub", Env: map[string]string{"FOO": "bar"}}}})
	ups := p.updates("c1", cmdTimeout)
	var want strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if got := output(ups, messages.OutputStream_OUTPUT_STREAM_STDOUT); got != want.String() {
		t.Errorf("stdout: %d bytes, want %d", len(got), want.Len())
	}
	if got := output(ups, messages.OutputStream_OUTPUT_STREAM_STDERR); got != "oops\n" {
		t.Errorf("stderr %q", got)
	}
	if h := output(ups, messages.OutputStream_OUTPUT_STREAM_HEADER); !strings.Contains(h, "program finished with exit code 3") {
		t.Errorf("header %q", h)
	}
	c := ups[len(ups)-1].GetComplete()
	if c.GetRc() != 3 || c.GetError() != "" || c.GetInterrupted() || c.GetElapsed().AsDuration() <= 0 {
		t.Errorf("complete %v", c)
	}
	ups = p.updates("c2", cmdTimeout)
	if got := output(ups, messages.OutputStream_OUTPUT_STREAM_STDOUT); got != filepath.Join(dir, "build/sub")+"\nbar\nunset\n" {
		t.Errorf("relative workdir, created; env (without the password): %q", got)
	}
}

// Much output, fast (the endpoint writer batches what queues up): every
// byte arrives, in order, and the connection survives.
func TestShellLargeOutput(t *testing.T) {
	p, w, _ := setup(t, "w4", time.Minute)
	const line, size = "0123456789abcdefghijklmnopqrstuvwxyz\n", 30_000_000
	p.start("w4", shell("big", "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c "+strconv.Itoa(size)+"; echo; seq 1 100000"))
	ups := p.updates("big", 3*cmdTimeout)
	var want bytes.Buffer
	want.WriteString(strings.Repeat(line, size/len(line)+1)[:size])
	want.WriteString("\n")
	for i := 1; i <= 100000; i++ {
		want.WriteString(strconv.Itoa(i))
		want.WriteByte('\n')
	}
	if got := output(ups, messages.OutputStream_OUTPUT_STREAM_STDOUT); got != want.String() {
		t.Fatalf("stdout: %d bytes, want %d", len(got), want.Len())
	}
	if c := ups[len(ups)-1].GetComplete(); c.GetRc() != 0 {
		t.Fatalf("complete %v", c)
	}
	for _, l := range w.logs.all() {
		if strings.Contains(l.msg, "lost the connection") {
			t.Fatalf("the worker lost the master: %s", l.raw)
		}
	}
}

func TestInterruptKillsProcessGroup(t *testing.T) {
	p, _, dir := setup(t, "w5", time.Minute)
	p.start("w5", shell("long", "sleep 60 & echo $! > bg.pid; echo started; wait"))
	p.log.wait(t, "the command's output", 0, cmdTimeout, func(e peerEvent) bool {
		return started(e, "long")
	})
	pid := readPid(t, filepath.Join(dir, "bg.pid"))
	p.send("w5", &messages.ToWorker{Kind: &messages.ToWorker_Interrupt{Interrupt: &messages.InterruptCommand{CommandId: "long", Why: "test"}}})
	c := p.complete("long", cmdTimeout)
	if !c.GetInterrupted() || c.GetRc() != -1 {
		t.Errorf("complete %v", c)
	}
	gone(t, pid)
	// An unknown id is only logged; the worker goes on.
	p.send("w5", &messages.ToWorker{Kind: &messages.ToWorker_Interrupt{Interrupt: &messages.InterruptCommand{CommandId: "nope"}}})
	p.start("w5", shell("after", "true"))
	if c := p.complete("after", cmdTimeout); c.GetRc() != 0 {
		t.Errorf("complete %v", c)
	}
}

func TestWrongSessionDropped(t *testing.T) {
	p, w, dir := setup(t, "w6", time.Minute)
	session := p.login("w6", 1).Session
	p.send("w6", &messages.ToWorker{Kind: &messages.ToWorker_Start{Start: shell("evil", "touch evil")}}, "not-the-session")
	p.send("w6", &messages.ToWorker{Kind: &messages.ToWorker_Keepalive{Keepalive: &messages.Keepalive{}}}, "not-the-session")
	p.send("w6", &messages.ToWorker{Kind: &messages.ToWorker_Keepalive{Keepalive: &messages.Keepalive{}}})
	// Messages from one sender arrive in order: once "good" completes,
	// "evil" has been seen and dropped.
	p.start("w6", shell("good", "true"))
	p.complete("good", cmdTimeout)
	if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
		t.Error("a command with a wrong session ran")
	}
	for _, e := range p.log.all() {
		if e.from.GetUpdate().GetCommandId() == "evil" {
			t.Errorf("update for the dropped command: %v", e.from)
		}
	}
	keepalives := 0
	for _, e := range p.log.all() {
		if e.from.GetKeepalive() != nil {
			keepalives++
		}
	}
	if keepalives != 1 {
		t.Errorf("%d keepalives answer one keepalive of the session and one not (the periodic one is a minute away)", keepalives)
	}
	w.waitLog("not of the current session")
	for _, l := range w.logs.all() {
		if strings.Contains(l.raw, session) || strings.Contains(l.raw, "not-the-session") {
			t.Errorf("a session is logged: %s", l.raw)
		}
	}
}

func TestFileOps(t *testing.T) {
	p, _, dir := setup(t, "w7", time.Minute)
	paths := func(ps ...string) *messages.PathsCommand { return &messages.PathsCommand{Paths: ps} }
	path := func(s string) *messages.PathCommand { return &messages.PathCommand{Path: s} }
	run := func(id string, s *messages.StartCommand) *messages.CommandComplete {
		t.Helper()
		s.CommandId = id
		p.start("w7", s)
		return p.complete(id, cmdTimeout)
	}
	if c := run("m", &messages.StartCommand{Command: &messages.StartCommand_Mkdir{Mkdir: paths("a/b", filepath.Join(dir, "c"))}}); c.GetRc() != 0 {
		t.Fatalf("mkdir %v", c)
	}
	os.WriteFile(filepath.Join(dir, "a", "f.txt"), []byte("12345"), 0o640)
	c := run("s", &messages.StartCommand{Command: &messages.StartCommand_Stat{Stat: path("a/f.txt")}})
	if c.GetRc() != 0 || c.GetStat().GetSize() != 5 || c.GetStat().GetIsDir() || c.GetStat().GetMode()&0o777 != 0o640 ||
		c.GetStat().GetMode()&syscall.S_IFMT != syscall.S_IFREG || c.GetStat().GetMtime() == 0 {
		t.Errorf("stat %v", c)
	}
	if c := run("sd", &messages.StartCommand{Command: &messages.StartCommand_Stat{Stat: path("a/b")}}); !c.GetStat().GetIsDir() {
		t.Errorf("stat dir %v", c)
	}
	if c := run("sm", &messages.StartCommand{Command: &messages.StartCommand_Stat{Stat: path("missing")}}); c.GetRc() == 0 || !strings.Contains(c.GetError(), "missing") {
		t.Errorf("stat missing %v", c)
	}
	if c := run("l", &messages.StartCommand{Command: &messages.StartCommand_Listdir{Listdir: path("a")}}); !slices.Equal(c.GetFiles(), []string{"b", "f.txt"}) {
		t.Errorf("listdir %v", c)
	}
	if c := run("g", &messages.StartCommand{Command: &messages.StartCommand_Glob{Glob: path("a/*.txt")}}); !slices.Equal(c.GetFiles(), []string{filepath.Join(dir, "a/f.txt")}) {
		t.Errorf("glob %v", c)
	}
	if c := run("rf", &messages.StartCommand{Command: &messages.StartCommand_Rmfile{Rmfile: path("a/f.txt")}}); c.GetRc() != 0 {
		t.Errorf("rmfile %v", c)
	}
	if c := run("rf2", &messages.StartCommand{Command: &messages.StartCommand_Rmfile{Rmfile: path("a/f.txt")}}); c.GetRc() == 0 || c.GetError() == "" {
		t.Errorf("rmfile of a missing file %v", c)
	}
	if c := run("rd", &messages.StartCommand{Command: &messages.StartCommand_Rmdir{Rmdir: paths("a", "c")}}); c.GetRc() != 0 {
		t.Errorf("rmdir %v", c)
	}
	if c := run("l2", &messages.StartCommand{Command: &messages.StartCommand_Listdir{Listdir: path(".")}}); len(c.GetFiles()) != 0 {
		t.Errorf("listdir after rmdir %v", c)
	}

	// A second command with a running command's id is refused.
	p.start("w7", shell("dup", "read x < fifo"))
	syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600)
	p.start("w7", shell("dup", "true"))
	ups := p.log.wait(t, "the refusal", 0, cmdTimeout, func(e peerEvent) bool {
		return e.from.GetUpdate().GetCommandId() == "dup" && e.from.GetUpdate().GetComplete() != nil
	})
	if c := ups.from.GetUpdate().GetComplete(); !strings.Contains(c.GetError(), "duplicate") {
		t.Errorf("duplicate id: %v", c)
	}
	p.send("w7", &messages.ToWorker{Kind: &messages.ToWorker_Interrupt{Interrupt: &messages.InterruptCommand{CommandId: "dup"}}})
	p.log.wait(t, "the interrupted dup", 0, cmdTimeout, func(e peerEvent) bool {
		return e.from.GetUpdate().GetCommandId() == "dup" && e.from.GetUpdate().GetComplete().GetInterrupted()
	})
}

func TestUploadDownload(t *testing.T) {
	p, _, dir := setup(t, "w8", time.Minute)
	data := make([]byte, 300_000)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "in.bin"), data, 0o644)

	p.start("w8", &messages.StartCommand{CommandId: "up", Command: &messages.StartCommand_UploadFile{
		UploadFile: &messages.UploadFileCommand{Path: "in.bin", Blocksize: 16 << 10}}})
	ups := p.updates("up", cmdTimeout)
	var got []byte
	for i, u := range ups[:len(ups)-1] {
		ch := u.GetUploadChunk()
		if ch == nil || ch.GetCommandId() != "up" || ch.GetEof() != (i == len(ups)-2) || len(ch.GetData()) > maxUploadBlock {
			t.Fatalf("upload update %d of %d: %v", i, len(ups), u)
		}
		got = append(got, ch.GetData()...)
	}
	if !bytes.Equal(got, data) || ups[len(ups)-1].GetComplete().GetRc() != 0 {
		t.Fatalf("uploaded %d bytes, want %d; complete %v", len(got), len(data), ups[len(ups)-1])
	}
	p.start("w8", &messages.StartCommand{CommandId: "up2", Command: &messages.StartCommand_UploadFile{
		UploadFile: &messages.UploadFileCommand{Path: "in.bin", Blocksize: 1 << 10, Maxsize: 1000}}})
	if c := p.complete("up2", cmdTimeout); c.GetRc() == 0 || !strings.Contains(c.GetError(), "maximum file size") {
		t.Errorf("upload over maxsize: %v", c)
	}

	download := func(id, path string, maxsize int64, data []byte) *messages.CommandComplete {
		p.start("w8", &messages.StartCommand{CommandId: id, Command: &messages.StartCommand_DownloadFile{
			DownloadFile: &messages.DownloadFileCommand{Path: path, Maxsize: maxsize, Mode: 0o600}}})
		for off := 0; ; off += 10_000 {
			end := min(off+10_000, len(data))
			p.send("w8", &messages.ToWorker{Kind: &messages.ToWorker_DownloadChunk{DownloadChunk: &messages.FileChunk{
				CommandId: id, Data: data[off:end], Eof: end == len(data)}}})
			if end == len(data) {
				break
			}
		}
		return p.complete(id, cmdTimeout)
	}
	if c := download("down", "out/copy.bin", 0, data); c.GetRc() != 0 {
		t.Fatalf("download: %v", c)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out/copy.bin"))
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("downloaded file: %d bytes, %v", len(b), err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "out/copy.bin")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if c := download("down2", "out/big.bin", 1000, data); c.GetRc() == 0 || !strings.Contains(c.GetError(), "maximum file size") {
		t.Errorf("download over maxsize: %v", c)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "out")); len(entries) != 1 {
		t.Errorf("a failed download left files: %v", entries)
	}
}

// A graceful shutdown refuses new commands, waits for the running one,
// says goodbye and exits 0.
func TestGracefulShutdown(t *testing.T) {
	p, w, dir := setup(t, "w9", time.Minute)
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o600)
	p.start("w9", shell("run", "read x < fifo; echo got $x"))
	p.send("w9", &messages.ToWorker{Kind: &messages.ToWorker_Shutdown{Shutdown: &messages.WorkerShutdown{Graceful: true}}})
	p.start("w9", shell("late", "true"))
	if c := p.complete("late", cmdTimeout); !strings.Contains(c.GetError(), "shutting down") {
		t.Fatalf("a command after the shutdown: %v", c)
	}
	select {
	case <-w.exited:
		t.Fatal("the worker exited with a command running")
	default:
	}
	if err := os.WriteFile(fifo, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := w.wait(cmdTimeout); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	ups := p.updates("run", cmdTimeout)
	if output(ups, messages.OutputStream_OUTPUT_STREAM_STDOUT) != "got go\n" || ups[len(ups)-1].GetComplete().GetRc() != 0 {
		t.Errorf("the running command: %v", ups)
	}
	complete, detach := -1, -1
	for i, e := range p.log.all() {
		if e.from.GetUpdate().GetCommandId() == "run" && e.from.GetUpdate().GetComplete() != nil {
			complete = i
		}
		if e.from.GetDetach() != "" {
			detach = i
		}
	}
	if detach < complete {
		t.Errorf("detach (event %d) not after the complete (event %d)", detach, complete)
	}
}

// SIGTERM: the running command is killed and reported, the master told,
// exit 0.
func TestSignalStops(t *testing.T) {
	p, w, dir := setup(t, "w10", time.Minute)
	p.start("w10", shell("long", "sleep 60 & echo $! > bg.pid; echo started; wait"))
	p.log.wait(t, "the command's output", 0, cmdTimeout, func(e peerEvent) bool {
		return started(e, "long")
	})
	pid := readPid(t, filepath.Join(dir, "bg.pid"))
	w.signal(syscall.SIGTERM)
	if code := w.wait(cmdTimeout); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if c := p.complete("long", cmdTimeout); !c.GetInterrupted() {
		t.Errorf("complete %v", c)
	}
	p.log.wait(t, "the detach", 0, cmdTimeout, func(e peerEvent) bool { return e.from.GetDetach() != "" })
	gone(t, pid)
}

// The master dies: the worker kills its commands and logs in again once
// the master is back.
func TestLostMaster(t *testing.T) {
	// The worker reconnects to the address it was given: the second peer
	// listens on the same one, reserved for this test meanwhile.
	p, w, dir := setupAt(t, testkit.ReservedAddr(t), "w11", time.Minute)
	p.start("w11", shell("long", "sleep 60 & echo $! > bg.pid; echo started; wait"))
	p.log.wait(t, "the command's output", 0, cmdTimeout, func(e peerEvent) bool {
		return started(e, "long")
	})
	pid := readPid(t, filepath.Join(dir, "bg.pid"))
	p.kill()
	w.waitLog("lost the connection to the master")
	gone(t, pid)
	p2 := startPeer(t, p.addr, time.Minute)
	p2.setPassword("w11", "pw-w11")
	p2.login("w11", 1)
	w.connected(2)
	p2.start("w11", shell("again", "echo hi"))
	if c := p2.complete("again", cmdTimeout); c.GetRc() != 0 {
		t.Errorf("complete %v", c)
	}
	for _, e := range p2.log.all() {
		if e.from.GetUpdate().GetCommandId() == "long" {
			t.Errorf("the killed command reported to the new master: %v", e.from)
		}
	}
}

func protojsonUnmarshal(b []byte, m proto.Message) error { return protojsonOpts.Unmarshal(b, m) }

var protojsonOpts = protojson.UnmarshalOptions{}

// A shutdown that is not graceful kills the running command at once.
func TestShutdownNow(t *testing.T) {
	p, w, dir := setup(t, "w12", time.Minute)
	p.start("w12", shell("long", "sleep 60 & echo $! > bg.pid; echo started; wait"))
	p.log.wait(t, "the command's output", 0, cmdTimeout, func(e peerEvent) bool { return started(e, "long") })
	pid := readPid(t, filepath.Join(dir, "bg.pid"))
	p.send("w12", &messages.ToWorker{Kind: &messages.ToWorker_Shutdown{Shutdown: &messages.WorkerShutdown{}}})
	if code := w.wait(cmdTimeout); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if c := p.complete("long", cmdTimeout); !c.GetInterrupted() {
		t.Errorf("complete %v", c)
	}
	gone(t, pid)
}

// With no master to reach, the worker keeps trying, says why once, and
// stops at once on SIGINT.
func TestNoMasterThenSignal(t *testing.T) {
	addr := testkit.RefusingAddr(t) // nothing listens there
	w := startWorker(t, []string{"--master", addr, "--name", "w13", "--basedir", filepath.Join(t.TempDir(), "new"),
		"--password", "pw"}, "20ms")
	n := 0
	w.logs.wait(t, "five failed attempts", 0, cmdTimeout, func(l logLine) bool {
		if strings.Contains(l.msg, "login failed again") || strings.Contains(l.msg, "cannot log in") {
			n++
		}
		return n == 5
	})
	warns := 0
	for _, l := range w.logs.all() {
		if l.level == "WARN" && strings.Contains(l.msg, "cannot log in") {
			warns++
		}
	}
	if warns != 1 {
		t.Errorf("%d warnings for one distinct error", warns)
	}
	w.signal(syscall.SIGINT)
	if code := w.wait(cmdTimeout); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// The master goes away during a graceful shutdown: the worker kills the
// command it was waiting for and exits, rather than logging in again.
func TestLostMasterWhileShuttingDown(t *testing.T) {
	p, w, dir := setup(t, "w14", time.Minute)
	p.start("w14", shell("long", "sleep 60 & echo $! > bg.pid; echo started; wait"))
	p.log.wait(t, "the command's output", 0, cmdTimeout, func(e peerEvent) bool { return started(e, "long") })
	pid := readPid(t, filepath.Join(dir, "bg.pid"))
	p.send("w14", &messages.ToWorker{Kind: &messages.ToWorker_Shutdown{Shutdown: &messages.WorkerShutdown{Graceful: true}}})
	w.waitLog("the master asks the worker to shut down")
	p.kill()
	if code := w.wait(cmdTimeout); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	gone(t, pid)
}
