package pb

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
)

// loggedIn is a Go worker logged in to a test Server, with builder b1.
func loggedIn(t *testing.T, cfg Config) (*testServer, *goWorker, wire.Conn, RemoteRef) {
	t.Helper()
	ts := startServer(t, cfg)
	w := dialGo(t, ts.addr)
	persp, err := w.login("w1", "pass1")
	if err != nil {
		t.Fatal(err)
	}
	c := ts.next(t)
	if err := c.SetBuilderList(context.Background(), map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	return ts, w, c, persp
}

func TestGoWorkerSession(t *testing.T) {
	requested := make(chan wire.Conn, 1)
	_, w, c, persp := loggedIn(t, Config{ShutdownRequested: func(c wire.Conn) { requested <- c }})
	ctx := context.Background()
	if c.Name() != "w1" || !strings.HasPrefix(c.Remote(), "127.0.0.1:") {
		t.Errorf("Name %q Remote %q", c.Name(), c.Remote())
	}
	if err := c.Print(ctx, "attached"); err != nil {
		t.Fatal(err)
	}
	if w.bot.printed[0] != "attached" {
		t.Errorf("printed %v", w.bot.printed)
	}
	info, err := c.Info(ctx)
	if err != nil || info["numcpus"] != int64(2) {
		t.Fatalf("Info = %v, %v", info, err)
	}
	// The command reports and completes before startCommand is answered.
	s := newSink()
	if err := c.StartCommand(ctx, wireCommand("1", "b1", "shell", map[string]any{"command": "true"}, s)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("the command completed before startCommand was answered, but not in the Sink")
	}
	if s.err != nil || s.rc(t) != 0 {
		t.Errorf("err %v rc %d", s.err, s.rc(t))
	}
	// The worker's own calls on its perspective.
	if _, err := w.b.callRemote(ctx, persp, "keepalive", nil, nil); err != nil {
		t.Errorf("keepalive: %v", err)
	}
	if _, err := w.b.callRemote(ctx, persp, "shutdown", nil, nil); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	select {
	case got := <-requested:
		if got != c {
			t.Error("ShutdownRequested got another Conn")
		}
	case <-time.After(wait):
		t.Fatal("ShutdownRequested was not called")
	}
	if _, err := w.b.callRemote(ctx, persp, "format_disk", nil, nil); !errors.Is(err, ErrNoSuchMethod) {
		t.Errorf("an unknown method: %v", err)
	}
}

func TestLoginRefused(t *testing.T) {
	logs := &logBuffer{}
	auth := authFunc(func(name string) (string, bool, error) {
		switch name {
		case "w1":
			return "pass1", true, nil
		case "limited":
			return "", false, wire.RateLimited(42 * time.Second)
		}
		return "", false, nil
	})
	ts := startServer(t, Config{Auth: auth, Log: logs.logger(), Accept: func(context.Context, wire.Conn) error {
		t.Error("a refused login was accepted")
		return nil
	}})
	for _, tc := range []struct{ name, password, value string }{
		{"w1", "wrong-secret", ""},
		{"nobody", "pass1", ""},
		{"limited", "pass1", wire.ErrRateLimited.Error()},
	} {
		w := dialGo(t, ts.addr)
		_, err := w.login(tc.name, tc.password)
		var re *RemoteError
		if !errors.As(err, &re) || !errors.Is(err, ErrUnauthorizedLogin) || re.Value != tc.value {
			t.Errorf("%s/%s: err %#v, want UnauthorizedLogin %q", tc.name, tc.password, err, tc.value)
		}
	}
	for _, secret := range []string{"wrong-secret", "pass1", hex.EncodeToString(respond([]byte("x"), "pass1"))[:8]} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs.String(), "wrong password") || !strings.Contains(logs.String(), "unknown worker") {
		t.Errorf("the log does not say why:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "retry_after=42s") {
		t.Errorf("the rate-limited refusal does not say when to retry:\n%s", logs)
	}
}

// rawConn is a TCP connection to a Server that has read the dialect offer.
func rawConn(t *testing.T, ts *testServer) (net.Conn, *Decoder) {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(wait))
	d := NewDecoder(nc)
	if _, err := d.Decode(); err != nil {
		t.Fatalf("no dialect offer: %v", err)
	}
	return nc, d
}

// closedBy waits for the Server to close nc.
func closedBy(t *testing.T, nc net.Conn) {
	t.Helper()
	if _, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("waiting for the close: %v", err)
	}
}

func write(t *testing.T, nc net.Conn, vocab bool, exprs ...any) {
	t.Helper()
	var b []byte
	for _, e := range exprs {
		var err error
		if b, err = AppendExpr(b, e, vocab); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestPreLoginBounds(t *testing.T) {
	logs := &logBuffer{}
	ts := startServer(t, Config{Log: logs.logger(), LoginTimeout: 200 * time.Millisecond})
	login := func(n int) []any {
		return []any{"message", n, "root", "login", 1, []any{"tuple", "w1"}, []any{"dictionary"}}
	}
	for _, tc := range []struct {
		name string
		send []any
		log  string
	}{
		{"silent", nil, "not logged in within 200ms"},
		{"no dialect", []any{"klingon"}, "did not offer"},
		{"big", []any{"pb", strings.Repeat("x", 100*1024)}, "exceeds the limit of 65536"},
		{"chatty", append([]any{"pb"}, repeat([]any{"version", 6}, 40)...), "more than 32 messages before login"},
		{"logins", []any{"pb", login(1), login(2), login(3), login(4)}, "more than 3 login attempts"},
		{"old version", []any{"pb", []any{"version", 5}}, "version incompatibility"},
		{"not a list", []any{"pb", 7}, "expected a list"},
		{"garbage", []any{"pb", []any{"message", "x"}}, "message with 1 fields"},
		{"many elements", []any{"pb", append([]any{"message"}, repeat([]any{}, 300)...)}, "more than 256 elements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, _ := rawConn(t, ts)
			for i, e := range tc.send {
				// The server may close the connection before the
				// client has sent everything (that is the point of
				// the bound): stop writing then; the log says why.
				b, err := AppendExpr(nil, e, i > 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := nc.Write(b); err != nil {
					break
				}
			}
			closedBy(t, nc)
			logs.waitFor(t, tc.log, 1)
		})
	}
}

func repeat(v any, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestPreLoginObeysNothing: before login only root and the challenger
// answer; other objects do not exist, unknown commands are not
// understood, and the connection stays up.
func TestPreLoginObeysNothing(t *testing.T) {
	ts := startServer(t, Config{})
	nc, d := rawConn(t, ts)
	write(t, nc, false, "pb")
	d.Vocab = true
	write(t, nc, true,
		[]any{"version", 6},
		[]any{"message", 1, 2, "startCommand", 1, []any{"tuple"}, []any{"dictionary"}},
		[]any{"message", 2, "root", "loginAnonymous", 1, []any{"tuple", []any{"None"}}, []any{"dictionary"}},
		[]any{"message", 3, "root", "rm", 1, []any{"tuple"}, []any{"dictionary"}},
		[]any{"hello"},
		[]any{"message", 4, "root", "login", 0, []any{"tuple", "w1"}, []any{"dictionary"}},
		[]any{"decref", 1},
		[]any{"message", 5, 1, "respond", 1, []any{"tuple", "x", []any{"remote", 1}}, []any{"dictionary"}},
	)
	want := []string{
		`["version" 6]`,
		`["error" 1 ["twisted.spread.pb.CopyableFailure" `,
		`["error" 2 ["twisted.spread.pb.CopyableFailure" `,
		`["error" 3 ["twisted.spread.pb.CopyableFailure" `,
		`["didNotUnderstand" "hello"]`,
		// login without an answer wanted: nothing; its challenger (1) is
		// dropped by the decref, so respond finds no object.
		`["error" 5 ["twisted.spread.pb.CopyableFailure" `,
	}
	values := []string{"", "Invalid Object ID", "anonymous login is not allowed", "No such method: remote_rm", "", "Invalid Object ID"}
	for i, w := range want {
		sexp, err := d.Decode()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		got := string(appendSexp(nil, sexp, 1000, 0))
		if !strings.HasPrefix(got, w) || !strings.Contains(got, values[i]) {
			t.Errorf("answer %d: %.300s\nwant %s…%s", i, got, w, values[i])
		}
	}
}

func TestMessageLimitAfterLogin(t *testing.T) {
	logs := &logBuffer{}
	_, w, c, persp := loggedIn(t, Config{Log: logs.logger(), MaxMessage: 128 * 1024})
	ctx := context.Background()
	// Over the pre-login 64 KiB, under MaxMessage: taken.
	if _, err := w.b.callRemote(ctx, persp, "keepalive", Tuple{[]byte(strings.Repeat("x", 100*1024))}, nil); err != nil {
		t.Fatal(err)
	}
	// Over MaxMessage: the connection is closed, with the reason.
	_, err := w.b.callRemote(ctx, persp, "keepalive", Tuple{[]byte(strings.Repeat("x", 200*1024))}, nil)
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("err %v, want the connection lost", err)
	}
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("the connection lives on")
	}
	var le *LimitError
	if !errors.As(c.Err(), &le) || le.Limit != 128*1024 {
		t.Errorf("Err() = %v, want the LimitError", c.Err())
	}
	if !strings.Contains(logs.String(), "exceeds the limit of 131072") {
		t.Errorf("the log does not say why:\n%s", logs)
	}
}

func TestMaxConns(t *testing.T) {
	logs := &logBuffer{}
	// Every refusal is logged here (an unbounded budget): each is an event
	// to wait on.
	ts := startServer(t, Config{MaxConns: 1, Log: logs.logger(),
		Refusals: droplog.New(logs.logger(), droplog.Options{SourceBurst: 1 << 30, Burst: 1 << 30})})
	first, _ := rawConn(t, ts)
	second, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetDeadline(time.Now().Add(wait))
	if n, _ := io.Copy(io.Discard, second); n != 0 {
		t.Errorf("the connection over the limit got %d bytes", n)
	}
	logs.waitFor(t, "too many connections", 1)
	// Once the first one is gone, there is room again. The slot is free
	// just after the close is logged: each refusal until then is logged
	// too, and is the event to try again on.
	_ = first.Close()
	logs.waitFor(t, "did not negotiate", 1)
	for refused := 1; ; refused++ {
		third, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = third.SetDeadline(time.Now().Add(wait))
		_, err = NewDecoder(third).Decode()
		_ = third.Close()
		if err == nil {
			return
		}
		logs.waitFor(t, "too many connections", refused+1)
	}
}

func TestServerCloseDropsConnections(t *testing.T) {
	ts, _, c, _ := loggedIn(t, Config{})
	s := newSink()
	ts.Server.Close()
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("the connection outlived Server.Close")
	}
	if err := c.StartCommand(context.Background(), wireCommand("1", "b1", "shell", nil, s)); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("StartCommand after close: %v", err)
	}
	if err := s.wait(t); !errors.Is(err, wire.ErrConnectionLost) {
		t.Errorf("Complete(%v), want wire.ErrConnectionLost (the wire.Conn contract)", err)
	}
}

func TestInfoOfAnOldWorker(t *testing.T) {
	ts := startServer(t, Config{})
	w := dialGo(t, ts.addr)
	w.bot.noInfo = true
	if _, err := w.login("w1", "pass1"); err != nil {
		t.Fatal(err)
	}
	info, err := ts.next(t).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"worker_commands": map[string]any{"shell": "3.1"}, "version": "0.8.x"}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("Info = %v, want %v", info, want)
	}
}

// TestSetBuilderListDropsOldReferences: the references of a replaced
// builder list are decref'd, so the worker can free them.
func TestSetBuilderListDropsOldReferences(t *testing.T) {
	_, w, c, _ := loggedIn(t, Config{})
	ctx := context.Background()
	b1 := w.bot.builders["b1"]
	if err := c.SetBuilderList(ctx, map[string]string{"b2": "b2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Print(ctx, "sync"); err != nil { // the decref came before
		t.Fatal(err)
	}
	w.b.mu.Lock()
	_, b1Alive := w.b.objects[b1]
	b2 := w.b.objects[w.bot.builders["b2"]]
	w.b.mu.Unlock()
	if b1Alive || b2 == nil || b2.refs != 1 {
		t.Errorf("b1 alive %v, b2 %+v", b1Alive, b2)
	}
	s := newSink()
	if err := c.StartCommand(ctx, wireCommand("1", "b1", "shell", nil, s)); err == nil || !strings.Contains(err.Error(), `builder "b1" is not in`) {
		t.Errorf("a command for a dropped builder: %v", err)
	}
}

func TestStartCommandRefusals(t *testing.T) {
	_, w, c, _ := loggedIn(t, Config{})
	w.bot.start = func(RemoteRef, string, string, map[string]any) {} // runs forever
	ctx := context.Background()
	running := newSink()
	if err := c.StartCommand(ctx, wireCommand("1", "b1", "shell", nil, running)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmd  wire.Command
		want string
	}{
		{"unknown builder", wire.Command{ID: "2", Builder: "nope", Name: "shell"}, `builder "nope"`},
		{"duplicate id", wire.Command{ID: "1", Builder: "b1", Name: "shell"}, `command id "1" is already running`},
		{"upload to a plain Sink", wire.Command{ID: "3", Builder: "b1", Name: "upload_file", Args: map[string]any{"path": "/x"}}, "not a wire.Uploader"},
		{"download from a plain Sink", wire.Command{ID: "4", Builder: "b1", Name: "download_file", Args: map[string]any{"path": "/x"}}, "not a wire.Downloader"},
		{"mkdir of two paths", wire.Command{ID: "5", Builder: "b1", Name: "mkdir", Args: map[string]any{"paths": []string{"/a", "/b"}}}, "exactly one path"},
		{"bad argument", wire.Command{ID: "6", Builder: "b1", Name: "shell", Args: map[string]any{"x": make(chan int)}}, "cannot encode chan int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink()
			tc.cmd.Sink = s
			err := c.StartCommand(ctx, tc.cmd)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if got := s.wait(t); got != err || s.calls != 1 {
				t.Errorf("Complete(%v) %d times, want the StartCommand error once", got, s.calls)
			}
		})
	}
	if err := c.StartCommand(ctx, wire.Command{ID: "7", Builder: "b1", Name: "shell"}); err == nil {
		t.Error("a command without a Sink started")
	}
	select {
	case <-running.done:
		t.Error("the running command was completed by a refused one")
	default:
	}
}

func TestUpdatesAndFailures(t *testing.T) {
	_, w, c, _ := loggedIn(t, Config{})
	ctx := context.Background()
	answers := make(chan result, 2)
	w.bot.start = func(cmd RemoteRef, _, _ string, _ map[string]any) {
		go func() {
			v, err := w.b.callRemote(ctx, cmd, "update", Tuple{[]any{
				[]any{map[string]any{"stdout": "out\n"}, 3},
				Tuple{map[string]any{"log": Tuple{"build.log", "line\n"}}, 7},
				[]any{map[string]any{"rc": 2}, 4},
				[]any{map[string]any{"elapsed": 1.5}, 5},
				[]any{map[string]any{"stat": Tuple{1, 2}}, 6},
			}}, nil)
			answers <- result{v, err}
			_, err = w.b.callRemote(ctx, cmd, "complete", nil, map[string]any{"failure": newFailure("builtins.OSError", "disk full")})
			answers <- result{nil, err}
		}()
	}
	s := newSink()
	if err := c.StartCommand(ctx, wireCommand("1", "b1", "shell", nil, s)); err != nil {
		t.Fatal(err)
	}
	err := s.wait(t)
	var re *RemoteError
	if !errors.As(err, &re) || re.Type != "builtins.OSError" || re.Value != "disk full" {
		t.Errorf("Complete(%v), want the worker's failure", err)
	}
	if r := <-answers; r.err != nil || r.v != int64(7) {
		t.Errorf("update answered %v, %v; want the highest number, 7", r.v, r.err)
	}
	if r := <-answers; r.err != nil {
		t.Errorf("complete: %v", r.err)
	}
	want := []wire.Update{
		{Key: "stdout", Text: "out\n"},
		{Key: "log", Log: "build.log", Text: "line\n"},
		{Key: "rc", Int: 2},
		{Key: "elapsed", Float: 1.5},
		{Key: "stat", Value: []any{int64(1), int64(2)}},
	}
	if !reflect.DeepEqual(s.updates, want) {
		t.Errorf("updates %+v\nwant %+v", s.updates, want)
	}
}

// failingUploader refuses the data.
type failingUploader struct{ uploader }

func (f *failingUploader) Write([]byte) error { return errors.New("over maxsize") }

func TestTransferErrorsReachTheWorker(t *testing.T) {
	_, w, c, _ := loggedIn(t, Config{})
	ctx := context.Background()
	got := make(chan error, 1)
	w.bot.start = func(cmd RemoteRef, _, _ string, args map[string]any) {
		writer := args["writer"].(RemoteRef)
		go func() {
			_, err := w.b.callRemote(ctx, writer, "write", Tuple{[]byte("data")}, nil)
			got <- err
			_, _ = w.b.callRemote(ctx, cmd, "complete", Tuple{nil}, nil)
			// The writer of a finished command refuses.
			_, err = w.b.callRemote(ctx, writer, "close", nil, nil)
			got <- err
		}()
	}
	u := &failingUploader{uploader{sink: newSink()}}
	if err := c.StartCommand(ctx, wireCommand("1", "b1", "upload_file", map[string]any{"path": "/f", "blocksize": 10}, u)); err != nil {
		t.Fatal(err)
	}
	var re *RemoteError
	if err := <-got; !errors.As(err, &re) || re.Value != "over maxsize" {
		t.Errorf("write: %v", err)
	}
	if err := <-got; err == nil || !strings.Contains(err.Error(), "Invalid Object ID") {
		t.Errorf("close after the end: %v", err)
	}
}

func TestShutdownWhenTheWorkerJustCloses(t *testing.T) {
	_, w, c, _ := loggedIn(t, Config{})
	w.bot.closeOnShutdown = true
	if err := c.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestPBCommand(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     map[string]any
		wantName string
		want     map[string]any
	}{
		{"shell", map[string]any{"workdir": "/w/b1/build", "command": []string{"true"}}, "shell", map[string]any{"workdir": "/w/b1/build", "command": []string{"true"}}},
		{"mkdir", map[string]any{"paths": []any{"/w/b1/x"}}, "mkdir", map[string]any{"dir": "/w/b1/x"}},
		{"mkdir", map[string]any{"dir": "build/x"}, "mkdir", map[string]any{"dir": "build/x"}},
		{"rmdir", map[string]any{"paths": []string{"/a", "/b"}, "timeout": 120}, "rmdir", map[string]any{"dir": []string{"/a", "/b"}, "timeout": 120}},
		{"cpdir", map[string]any{"from_path": "/a", "to_path": "/b"}, "cpdir", map[string]any{"fromdir": "/a", "todir": "/b"}},
		{"stat", map[string]any{"path": "/a/f", "workdir": "build"}, "stat", map[string]any{"file": "/a/f"}},
		{"stat", map[string]any{"file": "build/f"}, "stat", map[string]any{"file": "build/f"}},
		{"listdir", map[string]any{"path": "/a"}, "listdir", map[string]any{"dir": "/a"}},
		{"glob", map[string]any{"path": "/a/*"}, "glob", map[string]any{"path": "/a/*"}},
		{"rmfile", map[string]any{"path": "/a/f"}, "rmfile", map[string]any{"path": "/a/f"}},
		{"upload_file", map[string]any{"path": "/a/f", "blocksize": 16384, "workdir": "build", "workersrc": "f"}, "uploadFile",
			map[string]any{"workersrc": "/a/f", "blocksize": 16384, "workdir": ""}},
		{"upload_directory", map[string]any{"path": "/a/d", "compress": "gz"}, "uploadDirectory", map[string]any{"workersrc": "/a/d", "compress": "gz", "workdir": ""}},
		{"download_file", map[string]any{"path": "/a/f", "mode": 0o600}, "downloadFile", map[string]any{"workerdest": "/a/f", "mode": 0o600, "workdir": ""}},
		{"uploadFile", map[string]any{"workdir": "build", "workersrc": "f"}, "uploadFile", map[string]any{"workdir": "build", "workersrc": "f"}},
	} {
		in := map[string]any{}
		for k, v := range tc.args {
			in[k] = v
		}
		name, got, err := pbCommand(tc.name, tc.args)
		if err != nil || name != tc.wantName || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %v = %s %v %v, want %s %v", tc.name, tc.args, name, got, err, tc.wantName, tc.want)
		}
		if !reflect.DeepEqual(in, tc.args) {
			t.Errorf("%s: the caller's args changed", tc.name)
		}
	}
}

// TestShutdownAskedInALoop: a worker that asks to shut down again and
// again gets each call answered, but only ShutdownBurst of them (and one
// more each ShutdownEvery) are logged and passed to ShutdownRequested.
func TestShutdownAskedInALoop(t *testing.T) {
	logs := &logBuffer{}
	requested := make(chan wire.Conn, 100)
	var now atomic.Int64 // the budget's clock, in ns: it moves only when the test moves it
	_, w, _, persp := loggedIn(t, Config{Log: logs.logger(), ShutdownRequested: func(c wire.Conn) { requested <- c },
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	shutdown := func(n int) {
		for i := range n {
			if _, err := w.b.callRemote(context.Background(), persp, "shutdown", nil, nil); err != nil {
				t.Fatalf("shutdown %d: %v", i, err)
			}
		}
	}
	shutdown(5 * ShutdownBurst)
	for i := range ShutdownBurst {
		testkit.Recv(t, fmt.Sprintf("ShutdownRequested %d", i), requested)
	}
	if l := strings.Count(logs.String(), "worker asks to shut down"); l != ShutdownBurst {
		t.Fatalf("%d requests logged %d lines, want %d:\n%s", 5*ShutdownBurst, l, ShutdownBurst, logs)
	}
	now.Add(int64(ShutdownEvery))
	shutdown(5)
	testkit.Recv(t, "ShutdownRequested after ShutdownEvery", requested)
	if l := strings.Count(logs.String(), "worker asks to shut down"); l != ShutdownBurst+1 {
		t.Fatalf("after ShutdownEvery, 5 more requests: %d lines, want %d:\n%s", l, ShutdownBurst+1, logs)
	}
}

// TestShutdownAskedAgain: a worker that asks to shut down a second time
// on the same connection (its operator asks again after the master's
// operator cancelled the first stop, an unpause) has that request passed
// on too.
func TestShutdownAskedAgain(t *testing.T) {
	requested := make(chan wire.Conn, 2)
	_, w, _, persp := loggedIn(t, Config{ShutdownRequested: func(c wire.Conn) { requested <- c }})
	for i := range 2 {
		if _, err := w.b.callRemote(context.Background(), persp, "shutdown", nil, nil); err != nil {
			t.Fatalf("shutdown %d: %v", i, err)
		}
		testkit.Recv(t, fmt.Sprintf("ShutdownRequested for request %d", i), requested)
	}
}
