package pbmanager_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/paths"
	istate "github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/msgpack"
	"github.com/buildmaster/buildmaster/internal/worker"
	"github.com/buildmaster/buildmaster/messages"
)

// These tests run an in-process master and connect to its worker listener
// as workers do: with the real buildworker (worker.Run), or with a
// msgpack.Dial of the test's own (a worker that stops answering).

const config = `
workers:
  - {name: w1, password: pw1}
  - {name: nopass}
builders:
  - name: b1
    workers: [w1]
    steps:
      - {name: say, shell: {script: 'echo hello from $(basename $(dirname $(pwd)))'}}
schedulers: [{name: force, type: force, builders: [b1]}]
`

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

func start(t *testing.T, with ...func(*master.Options)) (*master.Master, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	return mastertest.Start(t, config, "", slog.New(slog.NewTextHandler(logs, nil)), with...), logs
}

// runWorker runs buildworker in process as name, until the test ends.
func runWorker(t *testing.T, m *master.Master, name, password string) (connected chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	connected = make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Options{Master: m.WorkersAddr, Name: name, Password: password, Basedir: t.TempDir(),
			Backoff: func(int) time.Duration { return 50 * time.Millisecond }, Connected: func() { connected <- struct{}{} }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return connected
}

func workerState(m *master.Master, name string) *messages.WorkerState {
	if n := m.RT.Tree.Lookup(paths.Worker(name)); n != nil {
		st, _ := n.State().(*messages.WorkerState)
		return st
	}
	return nil
}

func force(t *testing.T, m *master.Master, builder string) {
	t.Helper()
	if _, err := ask.Ask[*messages.ForceBuildResponse](t.Context(), m.RT.System.Root, actor.NewPID(m.RT.System.Address(), paths.Schedulers),
		&messages.ForceBuildRequest{Token: mastertest.Token, Builder: builder}); err != nil {
		t.Fatal(err)
	}
}

// build waits for build number n of builder to finish and returns it.
func build(t *testing.T, m *master.Master, builder string, n int32) *messages.Build {
	t.Helper()
	var b *messages.Build
	testkit.Eventually(t, fmt.Sprintf("build %s #%d finished", builder, n), func() bool {
		txn := m.RT.DB.Read()
		bldr, _ := istate.First(txn, istate.TableBuilders, istate.IndexName, builder).(*messages.Builder)
		if bldr == nil {
			return false
		}
		b, _ = istate.First(txn, istate.TableBuilds, istate.IndexBuilderNumber, bldr.GetId(), n).(*messages.Build)
		return b != nil && b.Results != nil
	})
	return b
}

// TestBuildOnBuildworker: buildworker connects to the worker listener,
// shows in the tree with its info, and runs a build.
func TestBuildOnBuildworker(t *testing.T) {
	m, logs := start(t)
	testkit.Recv(t, "the worker's connection", runWorker(t, m, "w1", "pw1"))
	testkit.Eventually(t, "w1 ready", func() bool { return workerState(m, "w1").GetConnected() })
	st := workerState(m, "w1")
	if st.GetInfo().GetProtocol() != "msgpack" || st.GetInfo().GetNumcpus() < 1 || st.GetInfo().GetVersion() == "" {
		t.Fatalf("worker state %v", st)
	}
	if n := m.RT.Tree.Lookup(paths.Conn("w1")); n == nil || n.State().(*messages.ConnectionState).GetRemote() == "" {
		t.Fatal("no connection actor in the tree")
	}
	force(t, m, "b1")
	if b := build(t, m, "b1", 1); b.GetResults() != istate.ResultSuccess {
		t.Fatalf("build %v\n%s", b, logs.String())
	}
	if strings.Contains(logs.String(), "pw1") {
		t.Fatalf("the password reached the log:\n%s", logs.String())
	}
}

// TestLoginRefused: an unknown worker, a wrong password and a worker
// without a password are refused at the upgrade; nothing is attached,
// and no password reaches the log.
func TestLoginRefused(t *testing.T) {
	m, logs := start(t)
	for _, c := range []struct{ name, password string }{{"nobody", "pw1"}, {"w1", "wrong-pw"}, {"nopass", ""}, {"nopass", "x"}} {
		_, err := msgpack.Dial(t.Context(), "ws://"+m.WorkersAddr, c.name, c.password, newTestWorker(), msgpack.DialOptions{})
		if !errors.Is(err, msgpack.ErrUnauthorized) {
			t.Errorf("%s/%q: %v", c.name, c.password, err)
		}
	}
	if n := strings.Count(logs.String(), "worker login refused"); n != 4 {
		t.Errorf("%d refusals logged, want 4:\n%s", n, logs.String())
	}
	if n := testutil.ToFloat64(m.RT.Stats.LoginsRefused.WithLabelValues("workers", "wrong_credentials")); n != 4 {
		t.Errorf("buildmaster_logins_refused_total{listener=workers,reason=wrong_credentials} = %v, want 4", n)
	}
	if strings.Contains(logs.String(), "wrong-pw") {
		t.Fatalf("a password reached the log:\n%s", logs.String())
	}
	if m.RT.Tree.Lookup(paths.Conn("w1")) != nil || workerState(m, "w1").GetConnected() {
		t.Fatal("a refused worker was attached")
	}
}

// TestWrongPasswordsAreRateLimited: an address that keeps failing is
// refused with 429 for a while, even with the right password; the 429
// (Retry-After) and the refusal's line (retry_after) say how long.
func TestWrongPasswordsAreRateLimited(t *testing.T) {
	m, logs := start(t)
	for i := 0; ; i++ {
		_, err := msgpack.Dial(t.Context(), "ws://"+m.WorkersAddr, "w1", "wrong", newTestWorker(), msgpack.DialOptions{})
		if errors.Is(err, wire.ErrRateLimited) {
			break
		}
		if !errors.Is(err, msgpack.ErrUnauthorized) || i == 100 {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := msgpack.Dial(t.Context(), "ws://"+m.WorkersAddr, "w1", "pw1", newTestWorker(), msgpack.DialOptions{}); !errors.Is(err, wire.ErrRateLimited) {
		t.Fatalf("the right password while limited: %v", err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.WorkersAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("w1", "pw1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || err != nil || s < 1 {
		t.Fatalf("status %d, Retry-After %q; want 429 with a number of seconds", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(logs.String(), "retry_after=") {
		t.Fatalf("no refusal says when to retry:\n%s", logs)
	}
}

// TestRefusedLoginsAreCountedWhenNotLogged: a stranger's 200 wrong logins
// at one instant (the refusal budget's clock stands still) log the
// source's burst of lines (droplog) but are all counted in
// buildmaster_logins_refused_total.
func TestRefusedLoginsAreCountedWhenNotLogged(t *testing.T) {
	m, logs := start(t, mastertest.RefusalsStandStill)
	for range 200 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.WorkersAddr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("w1", "wrong")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := strings.Count(logs.String(), "worker login refused"); n != droplog.DefaultSourceBurst {
		t.Errorf("200 wrong logins logged %d lines, want %d", n, droplog.DefaultSourceBurst)
	}
	var n float64
	for _, reason := range []string{"wrong_credentials", "rate_limited"} {
		n += testutil.ToFloat64(m.RT.Stats.LoginsRefused.WithLabelValues("workers", reason))
	}
	if n != 200 {
		t.Errorf("buildmaster_logins_refused_total = %v, want 200", n)
	}
}

// TestDuplicateLogin: a second login for a connected worker that answers
// pings is refused, and the first connection still builds; a second login
// for one that does not answer takes its place.
func TestDuplicateLogin(t *testing.T) {
	m, logs := start(t, mastertest.RefusalsStandStill)
	testkit.Recv(t, "the worker's connection", runWorker(t, m, "w1", "pw1"))
	testkit.Eventually(t, "w1 ready", func() bool { return workerState(m, "w1").GetConnected() })
	second, err := msgpack.Dial(t.Context(), "ws://"+m.WorkersAddr, "w1", "pw1", newTestWorker(), msgpack.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, "the second connection's end", second.Done())
	if !strings.Contains(logs.String(), "worker w1 is already connected") || !strings.Contains(logs.String(), "peer=127.0.0.1:") {
		t.Fatalf("the refusal is not logged with its peer:\n%s", logs.String())
	}
	// A worker that has the password and logs in again and again has its
	// refusals logged within Runtime.Refusals' budget (its clock stands
	// still: the source's burst).
	for range 3 * droplog.DefaultSourceBurst {
		again, err := msgpack.Dial(t.Context(), "ws://"+m.WorkersAddr, "w1", "pw1", newTestWorker(), msgpack.DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		testkit.Recv(t, "a duplicate connection's end", again.Done())
	}
	if n := strings.Count(logs.String(), "worker w1 is already connected"); n != droplog.DefaultSourceBurst {
		t.Fatalf("%d duplicate logins logged %d refusals, want %d", 3*droplog.DefaultSourceBurst+1, n, droplog.DefaultSourceBurst)
	}
	force(t, m, "b1")
	if b := build(t, m, "b1", 1); b.GetResults() != istate.ResultSuccess {
		t.Fatalf("build %v", b)
	}
}

// TestFailedSetupsAreLoggedWithinTheBudget: a worker that has the password
// but fails its login (no info: the wire's login) or its setup (no basedir:
// the connection actor's) in a loop has its refusals logged within
// Runtime.Refusals' budget (its clock stands still: the source's burst).
func TestFailedSetupsAreLoggedWithinTheBudget(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		worker     func(*testWorker)
	}{
		{"no info", "no info today", func(w *testWorker) { w.badInfo = true }},
		{"no basedir", `msg="worker login refused"`, func(w *testWorker) { w.noBasedir = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, logs := start(t, mastertest.RefusalsStandStill)
			for range 3 * droplog.DefaultSourceBurst {
				w := newTestWorker()
				tc.worker(w)
				c, err := msgpack.Dial(t.Context(), "ws://"+m.WorkersAddr, "w1", "pw1", w, msgpack.DialOptions{})
				if err != nil {
					t.Fatal(err)
				}
				testkit.Recv(t, "the connection's end", c.Done())
			}
			testkit.Eventually(t, "the refusals logged", func() bool { return strings.Count(logs.String(), tc.line) >= droplog.DefaultSourceBurst })
			if n := strings.Count(logs.String(), tc.line); n != droplog.DefaultSourceBurst {
				t.Fatalf("%d failed logins logged %d refusals, want %d:\n%s", 3*droplog.DefaultSourceBurst, n, droplog.DefaultSourceBurst, logs.String())
			}
		})
	}
}

// TestSilentConnectionIsReplaced: when the connected worker does not
// answer the ping of a new login within PingTimeout, the new login takes
// its place.
func TestSilentConnectionIsReplaced(t *testing.T) {
	m, logs := start(t)
	mute := newTestWorker()
	mute.mute = make(chan struct{}) // prints (pings) hang until the test is done; the setup still works
	first := replacedBy(t, m, mute)
	close(mute.mute)
	testkit.Recv(t, "the silent connection's end", first.Done())
	force(t, m, "b1")
	if b := build(t, m, "b1", 1); b.GetResults() != istate.ResultSuccess {
		t.Fatalf("build %v", b)
	}
	if !strings.Contains(logs.String(), `old connection does not answer; replacing it" worker=w1 peer=127.0.0.1:`) {
		t.Fatalf("the replacement is not logged:\n%s", logs.String())
	}
	// The worker's address is "peer" on every line, as on the refusals.
	if !strings.Contains(logs.String(), `msg="closing the worker's connection" worker=w1 peer=127.0.0.1:`) || strings.Contains(logs.String(), " remote=") ||
		!strings.Contains(logs.String(), `msg="worker attached" worker=w1 peer=127.0.0.1:`) {
		t.Fatalf("lines about the worker without its peer= (or with remote=):\n%s", logs.String())
	}
}

// replacedBy logs w1 in over msgpack with old, then buildworker as w1,
// and waits until buildworker holds w1's place; it returns old's
// connection.
func replacedBy(t *testing.T, m *master.Master, old *testWorker) *msgpack.Client {
	t.Helper()
	first, err := msgpack.Dial(t.Context(), "ws://"+m.WorkersAddr, "w1", "pw1", old, msgpack.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "w1 ready", func() bool { return workerState(m, "w1").GetConnected() })
	testkit.Recv(t, "the worker's connection", runWorker(t, m, "w1", "pw1"))
	testkit.Eventually(t, "buildworker in its place", func() bool {
		st := workerState(m, "w1")
		return st.GetConnected() && st.GetInfo().GetVersion() == worker.Version
	})
	return first
}

// TestReplacementIsWithinTheWorkersLineBudget: the line of a login that
// replaces a worker's connection is one of the worker's lines
// (Runtime.WorkerLines): a worker that logs in again and again cannot fill
// the log with it.
func TestReplacementIsWithinTheWorkersLineBudget(t *testing.T) {
	m, logs := start(t, mastertest.RefusalsStandStill)
	for range droplog.DefaultSourceBurst {
		m.RT.WorkerLines.LogAt(slog.LevelInfo, "w1", "spending w1's budget")
	}
	broken := newTestWorker()
	broken.badPrint = true // its ping fails at once
	first := replacedBy(t, m, broken)
	testkit.Recv(t, "the replaced connection's end", first.Done())
	if strings.Contains(logs.String(), "replacing it") {
		t.Fatalf("the replacement is logged past w1's spent budget:\n%s", logs.String())
	}
}

// TestLostConnectionRetriesTheBuild: a worker whose connection breaks
// mid-build leaves the build RETRY, and the request is built again when a
// worker comes back.
func TestLostConnectionRetriesTheBuild(t *testing.T) {
	m, _ := start(t)
	w := newTestWorker()
	w.hold.Store(true) // shell commands never end
	c, err := msgpack.Dial(t.Context(), "ws://"+m.WorkersAddr, "w1", "pw1", w, msgpack.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "w1 ready", func() bool { return workerState(m, "w1").GetConnected() })
	force(t, m, "b1")
	testkit.Recv(t, "the build's command at the worker", w.shells)
	c.Close("the test breaks the connection")
	if b := build(t, m, "b1", 1); b.GetResults() != istate.ResultRetry {
		t.Fatalf("build %v", b)
	}
	testkit.Recv(t, "the worker's connection", runWorker(t, m, "w1", "pw1"))
	if b := build(t, m, "b1", 2); b.GetResults() != istate.ResultSuccess {
		t.Fatalf("the retried build %v", b)
	}
}

// TestNoGoroutineWaitsForAccept: once a command started on a msgpack
// connection is sent, no goroutine waits for the worker to accept it (a
// refusal completes it: see sink).
func TestNoGoroutineWaitsForAccept(t *testing.T) {
	m, _ := start(t)
	w := newTestWorker()
	w.accept = make(chan struct{})
	c, err := msgpack.Dial(t.Context(), "ws://"+m.WorkersAddr, "w1", "pw1", w, msgpack.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close("test over")
	testkit.Eventually(t, "w1 ready", func() bool { return workerState(m, "w1").GetConnected() })
	force(t, m, "b1")
	testkit.Recv(t, "the build's command at the worker", w.shells)
	buf := make([]byte, 1<<20)
	testkit.Eventually(t, "no goroutine of the connection's actor waiting while the worker holds its accept", func() bool {
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "pbmanager.(*outbox).write")
	})
	close(w.accept)
	if b := build(t, m, "b1", 1); b.GetResults() != istate.ResultSuccess {
		t.Fatalf("build %v", b)
	}
}

// testWorker is a worker of the test's own: it answers the master's setup
// (listdir and mkdir of the builder list) and, unless held, every shell
// command with rc 0.
type testWorker struct {
	mute   chan struct{} // when set, a print waits for it to close
	hold   atomic.Bool
	shells chan *msgpack.Command
	// accept, when set, holds the answer to a shell command's start
	// until it closes (the command is in shells meanwhile).
	accept chan struct{}
	// badInfo, when set, makes the worker fail to give its info;
	// noBasedir leaves the basedir out of it (the setup fails).
	badInfo, noBasedir bool
	// badPrint makes a print (a ping) fail.
	badPrint bool
}

func newTestWorker() *testWorker { return &testWorker{shells: make(chan *msgpack.Command, 10)} }

func (w *testWorker) Print(context.Context, string) error {
	if w.mute != nil {
		<-w.mute
	}
	if w.badPrint {
		return errors.New("no prints today")
	}
	return nil
}
func (w *testWorker) Keepalive(context.Context) error { return nil }
func (w *testWorker) WorkerInfo(context.Context) (map[string]any, error) {
	if w.badInfo {
		return nil, errors.New("no info today")
	}
	if w.noBasedir {
		return map[string]any{"system": "posix"}, nil
	}
	return map[string]any{"basedir": filepath.Join(os.TempDir(), "no-such-worker"), "system": "posix", "numcpus": int64(1)}, nil
}
func (w *testWorker) SetWorkerSettings(context.Context, msgpack.Settings) error { return nil }
func (w *testWorker) StartCommand(_ context.Context, cmd *msgpack.Command) error {
	if w.accept != nil && cmd.Name == "shell" {
		w.shells <- cmd
		<-w.accept
	}
	go func() {
		ctx := context.Background()
		switch {
		case cmd.Name == "listdir":
			_ = cmd.Update(ctx, wire.Update{Key: "files", Value: []any{}}, wire.Update{Key: "rc"})
		case cmd.Name == "shell" && w.hold.Load():
			w.shells <- cmd
			return
		default:
			_ = cmd.Update(ctx, wire.Update{Key: "rc"})
		}
		_ = cmd.Complete(ctx, nil)
	}()
	return nil
}
func (w *testWorker) InterruptCommand(context.Context, string, string) error { return nil }
func (w *testWorker) Shutdown(context.Context) error                         { return nil }
