package worker

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/remoting"
	"github.com/buildmaster/buildmaster/messages"
)

// The master side of the protocol, for the tests: a fake master/pbmanager
// in a child process (this test binary run as TestPeerChild). Every
// process runs at most one protoactor remote: remote.Start sets gRPC's
// global logger unsynchronised, so two in one process race; and a child
// can be killed and started again on the same port, as a master restarts.
//
// The child writes one JSON event a line to stdout (peerEvent) and takes
// JSON commands (peerCmd) a line on stdin.

const (
	peerEnv          = "BUILDWORKER_TEST_PEER"
	peerListenEnv    = "BUILDWORKER_TEST_PEER_LISTEN"
	peerKeepaliveEnv = "BUILDWORKER_TEST_PEER_KEEPALIVE"
)

// peerEvent is what the peer reports.
type peerEvent struct {
	Ev      string          `json:"ev"` // listening, login, from
	Addr    string          `json:"addr,omitempty"`
	Name    string          `json:"name,omitempty"`
	OK      bool            `json:"ok,omitempty"`
	Error   string          `json:"error,omitempty"`
	Session string          `json:"session,omitempty"` // the session a login got
	Known   bool            `json:"known,omitempty"`   // a FromWorker of a live session
	Msg     json.RawMessage `json:"msg,omitempty"`     // login: WorkerLogin (no password); from: FromWorker (no session)
	At      time.Time       `json:"at"`

	from *messages.FromWorker // decoded by the driver
}

// peerCmd is what the test tells the peer.
type peerCmd struct {
	Op       string          `json:"op"` // password, send
	Name     string          `json:"name"`
	Password string          `json:"password,omitempty"`
	Msg      json.RawMessage `json:"msg,omitempty"`     // send: a ToWorker
	Session  string          `json:"session,omitempty"` // send: this session instead of the worker's
}

// TestPeerChild is the fake master; it only runs as a child of a test.
func TestPeerChild(t *testing.T) {
	if os.Getenv(peerEnv) == "" {
		t.Skip("the fake master of the other tests")
	}
	listen := os.Getenv(peerListenEnv)
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	keepalive, _ := time.ParseDuration(os.Getenv(peerKeepaliveEnv))
	if keepalive == 0 {
		keepalive = time.Minute
	}
	var outMu sync.Mutex
	emit := func(e peerEvent) {
		e.At = time.Now()
		b, _ := json.Marshal(e)
		outMu.Lock()
		os.Stdout.Write(append(b, '\n'))
		outMu.Unlock()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	_, addr, err := remoting.Start(system, listen, &remoting.Policy{
		Targets: map[string][]proto.Message{paths.PBManager: {&messages.WorkerLogin{}, &messages.FromWorker{}}},
		Log:     log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(3)
	}
	passwords := map[string]string{}
	sessions := map[string]string{}    // session → worker
	current := map[string]string{}     // worker → session
	workers := map[string]*actor.PID{} // worker → its actor
	logins := map[string]int{}         // worker → successful logins
	pbm, err := system.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *messages.WorkerLogin:
			ev := peerEvent{Ev: "login", Name: m.GetName()}
			shown := proto.Clone(m).(*messages.WorkerLogin)
			shown.Password = ""
			ev.Msg, _ = protojson.Marshal(shown)
			resp := &messages.WorkerLoginResponse{}
			switch pw, ok := passwords[m.GetName()]; {
			case !ok || pw != m.GetPassword():
				resp.Error = "wrong password for worker " + m.GetName()
			case m.GetProtocolVersion() != messages.ProtocolVersion_PROTOCOL_VERSION_1:
				resp.Error = "unsupported protocol version"
			default:
				b := make([]byte, 16)
				rand.Read(b)
				s := hex.EncodeToString(b)
				if old, ok := current[m.GetName()]; ok {
					delete(sessions, old)
				}
				sessions[s], current[m.GetName()] = m.GetName(), s
				workers[m.GetName()] = actor.NewPID(c.Sender().GetAddress(), paths.WorkerAgent)
				resp = &messages.WorkerLoginResponse{Ok: true, Session: s, KeepaliveInterval: durationpb.New(keepalive)}
				ev.Session = s
			}
			ev.OK, ev.Error = resp.Ok, resp.Error
			emit(ev)
			c.Respond(resp)
			if resp.Ok {
				// As Buildbot's master does, at once: these must not be
				// lost for arriving before the worker has read the answer.
				logins[m.GetName()]++
				w := workers[m.GetName()]
				c.Send(w, &messages.ToWorker{Session: resp.Session, Kind: &messages.ToWorker_Print{Print: "attached"}})
				c.Send(w, &messages.ToWorker{Session: resp.Session, Kind: &messages.ToWorker_Start{Start: &messages.StartCommand{
					CommandId: fmt.Sprintf("greet-%d", logins[m.GetName()]),
					Command:   &messages.StartCommand_Listdir{Listdir: &messages.PathCommand{Path: "."}}}}})
			}
		case *messages.FromWorker:
			name, known := sessions[m.GetSession()]
			shown := proto.Clone(m).(*messages.FromWorker)
			shown.Session = ""
			b, _ := protojson.Marshal(shown)
			emit(peerEvent{Ev: "from", Name: name, Known: known, Msg: b})
		case *peerCmd:
			switch m.Op {
			case "password":
				passwords[m.Name] = m.Password
			case "send":
				to := &messages.ToWorker{}
				if err := protojson.Unmarshal(m.Msg, to); err != nil {
					fmt.Fprintln(os.Stderr, "peer: bad ToWorker:", err)
					os.Exit(3)
				}
				to.Session = current[m.Name]
				if m.Session != "" {
					to.Session = m.Session
				}
				c.Send(workers[m.Name], to)
			}
		}
	}), paths.PBManager)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(3)
	}
	emit(peerEvent{Ev: "listening", Addr: addr})
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		cmd := &peerCmd{}
		if err := json.Unmarshal(sc.Bytes(), cmd); err != nil {
			fmt.Fprintln(os.Stderr, "peer: bad command:", err)
			os.Exit(3)
		}
		system.Root.Send(pbm, cmd)
	}
	os.Exit(0) // stdin closed: the test is over
}

// peer is the test's handle on a fake master child.
type peer struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	log   *eventLog[peerEvent]
	mu    sync.Mutex // stdin
}

// startPeer starts a fake master on listen ("" for any port) whose logins
// get the keepalive interval given.
func startPeer(t *testing.T, listen string, keepalive time.Duration) *peer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), peerEnv+"=1", peerListenEnv+"="+listen, peerKeepaliveEnv+"="+keepalive.String())
	cmd.Stderr = &testWriter{t: t, prefix: "peer: "}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, cmd: cmd, stdin: stdin, log: newEventLog[peerEvent]()}
	t.Cleanup(p.kill)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var e peerEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				continue // not ours (the test framework's lines)
			}
			if e.Ev == "from" {
				e.from = &messages.FromWorker{}
				if err := protojson.Unmarshal(e.Msg, e.from); err != nil {
					panic(err)
				}
			}
			p.log.add(e)
		}
		p.log.close()
	}()
	e := p.log.wait(t, "the peer listening", 0, 30*time.Second, func(e peerEvent) bool { return e.Ev == "listening" })
	p.addr = e.Addr
	return p
}

// kill ends the peer at once (SIGKILL: a master crashing).
func (p *peer) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func (p *peer) do(c peerCmd) {
	p.t.Helper()
	b, _ := json.Marshal(c)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("peer: %v", err)
	}
}

func (p *peer) setPassword(name, pw string) { p.do(peerCmd{Op: "password", Name: name, Password: pw}) }

// send sends m to worker name with its current session (or session).
func (p *peer) send(name string, m *messages.ToWorker, session ...string) {
	p.t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		p.t.Fatal(err)
	}
	c := peerCmd{Op: "send", Name: name, Msg: b}
	if len(session) > 0 {
		c.Session = session[0]
	}
	p.do(c)
}

func (p *peer) start(name string, s *messages.StartCommand) {
	p.t.Helper()
	p.send(name, &messages.ToWorker{Kind: &messages.ToWorker_Start{Start: s}})
}

// login waits for the n-th (from 1) successful login of name.
func (p *peer) login(name string, n int) peerEvent {
	p.t.Helper()
	seen := 0
	return p.log.wait(p.t, fmt.Sprintf("login %d of %s", n, name), 0, 30*time.Second, func(e peerEvent) bool {
		if e.Ev == "login" && e.Name == name && e.OK {
			seen++
		}
		return seen == n
	})
}

// updates waits for the complete of command id and returns every update
// of it, in the order received.
func (p *peer) updates(id string, timeout time.Duration) []*messages.CommandUpdate {
	p.t.Helper()
	p.log.wait(p.t, "the complete of "+id, 0, timeout, func(e peerEvent) bool {
		return e.from.GetUpdate().GetCommandId() == id && e.from.GetUpdate().GetComplete() != nil
	})
	var ups []*messages.CommandUpdate
	for _, e := range p.log.all() {
		if u := e.from.GetUpdate(); u.GetCommandId() == id {
			if !e.Known {
				p.t.Errorf("an update of %s with an unknown session", id)
			}
			ups = append(ups, u)
		}
	}
	for i, u := range ups {
		if (u.GetComplete() != nil) != (i == len(ups)-1) {
			p.t.Fatalf("command %s: update %d of %d is %v: complete must come exactly once, last", id, i, len(ups), u)
		}
	}
	return ups
}

// complete waits for command id to complete and returns its complete.
func (p *peer) complete(id string, timeout time.Duration) *messages.CommandComplete {
	p.t.Helper()
	ups := p.updates(id, timeout)
	return ups[len(ups)-1].GetComplete()
}

// output is the command's output on stream s.
func output(ups []*messages.CommandUpdate, s messages.OutputStream) string {
	var b strings.Builder
	for _, u := range ups {
		for _, o := range u.GetOutputs() {
			if o.GetStream() == s {
				b.Write(o.GetData())
			}
		}
	}
	return b.String()
}

// eventLog is an append-only list of events that tests wait on.
type eventLog[E any] struct {
	mu      sync.Mutex
	events  []E
	changed chan struct{} // closed and replaced on each change
	closed  bool
}

func newEventLog[E any]() *eventLog[E] { return &eventLog[E]{changed: make(chan struct{})} }

func (l *eventLog[E]) add(e E) {
	l.mu.Lock()
	l.events = append(l.events, e)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *eventLog[E]) close() {
	l.mu.Lock()
	l.closed = true
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *eventLog[E]) all() []E {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]E(nil), l.events...)
}

// wait returns the first event from index from on that match accepts,
// failing the test after timeout. match sees each event once, in order.
func (l *eventLog[E]) wait(t *testing.T, what string, from int, timeout time.Duration, match func(E) bool) E {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	i := from
	for {
		l.mu.Lock()
		evs, changed, closed := l.events, l.changed, l.closed
		l.mu.Unlock()
		for ; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i]
			}
		}
		if closed {
			t.Fatalf("waiting for %s: the process ended", what)
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waiting for %s: nothing after %s", what, timeout)
		}
	}
}

// testWriter copies a child's stderr into the test log, and fails the
// test on a data race report.
type testWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if strings.Contains(line, "DATA RACE") {
			w.t.Errorf("%s%s", w.prefix, line)
		}
		if testing.Verbose() {
			w.t.Logf("%s%s", w.prefix, line)
		}
	}
	return len(p), nil
}
