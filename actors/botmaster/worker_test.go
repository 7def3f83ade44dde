package botmaster_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// These tests drive the master's side of the worker protocol in process: a
// test actor named `worker` stands where a buildworker's actor would be
// (the master addresses it at the login's address, here the local one).

const workersConfig = `
workers:
  - {name: w1, password: pw1, keepalive_interval: 1s}
  - {name: nopass}
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

func start(t *testing.T) (*master.Master, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	return mastertest.Start(t, workersConfig, "", slog.New(slog.NewTextHandler(logs, nil))), logs
}

// fakeWorker is the test's `worker` actor: it records what the master sends
// and, unless mute, answers keepalives.
type fakeWorker struct {
	got     chan *messages.ToWorker
	mu      sync.Mutex
	mute    bool
	session string
}

func (f *fakeWorker) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*messages.ToWorker)
	if !ok {
		return
	}
	f.mu.Lock()
	mute, session := f.mute, f.session
	f.mu.Unlock()
	if m.GetKeepalive() != nil && !mute {
		ctx.Send(actor.NewPID(ctx.Self().Address, paths.PBManager),
			&messages.FromWorker{Session: session, Kind: &messages.FromWorker_Keepalive{Keepalive: &messages.Keepalive{}}})
	}
	f.got <- m
}

func spawnFake(t *testing.T, m *master.Master) *fakeWorker {
	t.Helper()
	f := &fakeWorker{got: make(chan *messages.ToWorker, 100)}
	if _, err := m.RT.System.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return f }), "worker"); err != nil {
		t.Fatal(err)
	}
	return f
}

func login(t *testing.T, m *master.Master, name, password string) *messages.WorkerLoginResponse {
	t.Helper()
	res, err := m.RT.System.Root.RequestFuture(actor.NewPID(m.RT.System.Address(), paths.PBManager),
		&messages.WorkerLogin{Name: name, Password: password, ProtocolVersion: messages.ProtocolVersion_PROTOCOL_VERSION_1,
			Info: &messages.WorkerInfo{Basedir: "/tmp/" + name}}, 30*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	return res.(*messages.WorkerLoginResponse)
}

func state(m *master.Master, name string) *messages.WorkerState {
	n := m.RT.Tree.Lookup(paths.Worker(name))
	if n == nil {
		return nil
	}
	st, _ := n.State().(*messages.WorkerState)
	return st
}

func TestLoginRefusals(t *testing.T) {
	m, logs := start(t)
	for _, c := range []struct{ name, password, logged string }{
		{"nobody", "pw1", `reason="unknown worker name"`},
		{"w1", "wrong", `reason="wrong password"`},
		{"w1", "", `reason="wrong password"`},
		{"nopass", "", `reason="the worker has no password in the config"`},
	} {
		res := login(t, m, c.name, c.password)
		if res.GetOk() || res.GetSession() != "" || res.GetError() != "login refused: unknown worker name or wrong password" {
			t.Errorf("%s/%q: %v", c.name, c.password, res)
		}
		if !strings.Contains(logs.String(), `msg="worker login refused" worker=`+c.name+` from=`) || !strings.Contains(logs.String(), c.logged) {
			t.Errorf("%s/%q: the log does not say %s:\n%s", c.name, c.password, c.logged, logs.String())
		}
	}
	res, _ := m.RT.System.Root.RequestFuture(actor.NewPID(m.RT.System.Address(), paths.PBManager),
		&messages.WorkerLogin{Name: "w1", Password: "pw1"}, 10*time.Second).Result()
	if r := res.(*messages.WorkerLoginResponse); r.GetOk() || !strings.Contains(r.GetError(), "protocol version 1") {
		t.Errorf("no protocol version: %v", r)
	}
	if strings.Contains(logs.String(), "pw1") || strings.Contains(logs.String(), "wrong") && !strings.Contains(logs.String(), "wrong password") {
		t.Fatalf("a password reached the log:\n%s", logs.String())
	}
	if st := state(m, "w1"); st.GetConnected() {
		t.Fatalf("connected after refusals: %v", st)
	}
}

func TestLoginCommandsAndKeepalive(t *testing.T) {
	m, logs := start(t)
	f := spawnFake(t, m)
	res := login(t, m, "w1", "pw1")
	if !res.GetOk() || len(res.GetSession()) != 64 || res.GetKeepaliveInterval().AsDuration() != time.Second {
		t.Fatalf("login: %v", res)
	}
	f.session = res.GetSession()
	if st := state(m, "w1"); !st.GetConnected() || st.GetInfo().GetBasedir() != "/tmp/w1" || st.GetConfig().GetPassword() != "pw1" {
		t.Fatalf("state %v", st)
	}

	// A command: the requester gets every update, in order, and then none.
	updates := make(chan *messages.CommandUpdate, 10)
	requester, _ := m.RT.System.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if u, ok := ctx.Message().(*messages.CommandUpdate); ok {
			updates <- u
		}
	}), "requester")
	wpid := actor.NewPID(m.RT.System.Address(), paths.Worker("w1"))
	m.RT.System.Root.RequestWithCustomSender(wpid, &messages.StartCommand{CommandId: "c1",
		Command: &messages.StartCommand_Listdir{Listdir: &messages.PathCommand{Path: "."}}}, requester)
	got := testkit.Recv(t, "a message to the worker", f.got)
	if got.GetSession() != f.session || got.GetStart().GetCommandId() != "c1" || got.GetStart().GetListdir().GetPath() != "." {
		t.Fatalf("the worker got %v", got)
	}
	pb := actor.NewPID(m.RT.System.Address(), paths.PBManager)
	send := func(session string, u *messages.CommandUpdate) {
		m.RT.System.Root.Send(pb, &messages.FromWorker{Session: session, Kind: &messages.FromWorker_Update{Update: u}})
	}
	send("not-the-session", &messages.CommandUpdate{CommandId: "c1", Outputs: []*messages.Output{{Data: []byte("forged")}}})
	send(f.session, &messages.CommandUpdate{CommandId: "c1", Outputs: []*messages.Output{{Data: []byte("one")}}})
	send(f.session, &messages.CommandUpdate{CommandId: "c1", Kind: &messages.CommandUpdate_Complete{Complete: &messages.CommandComplete{Files: []string{"a"}}}})
	if u := testkit.Recv(t, "a command update", updates); len(u.GetOutputs()) != 1 || string(u.GetOutputs()[0].GetData()) != "one" {
		t.Fatalf("first update %v (a forged session got through?)", u)
	}
	if u := testkit.Recv(t, "a command update", updates); u.GetComplete() == nil || u.GetComplete().GetFiles()[0] != "a" {
		t.Fatalf("second update %v", u)
	}

	// A second login for w1 while the first answers pings is refused; the
	// first keeps its session.
	res2 := login(t, m, "w1", "pw1")
	if res2.GetOk() || !strings.Contains(res2.GetError(), "worker w1 is already connected") {
		t.Fatalf("second login: %v", res2)
	}
	if st := state(m, "w1"); !st.GetConnected() {
		t.Fatal("the first connection was harmed")
	}
	if !strings.Contains(logs.String(), "worker w1 is already connected") {
		t.Fatalf("the refusal is not logged:\n%s", logs.String())
	}

	// A running command, then silence: after three keepalive intervals the
	// worker is detached and the command completes as lost.
	m.RT.System.Root.RequestWithCustomSender(wpid, &messages.StartCommand{CommandId: "c2",
		Command: &messages.StartCommand_Shell{Shell: &messages.ShellCommand{Argv: []string{"sleep", "100"}}}}, requester)
	u := testkit.Recv(t, "a command update", updates)
	if c := u.GetComplete(); c == nil || !c.GetLostConnection() || c.GetRc() != -1 || !strings.Contains(c.GetError(), "no keepalive") {
		t.Fatalf("after silence: %v", u)
	}
	if st := state(m, "w1"); st.GetConnected() {
		t.Fatal("still connected after silence")
	}
	// A worker that goes on with its old session is told it is detached.
	m.RT.System.Root.RequestWithCustomSender(pb, &messages.FromWorker{Session: f.session, Kind: &messages.FromWorker_Keepalive{
		Keepalive: &messages.Keepalive{}}}, actor.NewPID(m.RT.System.Address(), "worker"))
	for {
		got := testkit.Recv(t, "a message to the worker", f.got)
		if got.GetDetached() != "" {
			if got.GetSession() != f.session {
				t.Fatalf("detached notice with session %q", got.GetSession())
			}
			break
		}
	}
	// Once detached, the old session is closed at pbmanager too, and a new
	// login is accepted.
	if res := login(t, m, "w1", "pw1"); !res.GetOk() || res.GetSession() == f.session {
		t.Fatalf("login after detach: %v", res)
	}
}

// TestSecondLoginReplacesASilentConnection: when the connected worker does
// not answer the ping, the new login takes its place.
func TestSecondLoginReplacesASilentConnection(t *testing.T) {
	m, _ := start(t)
	f := spawnFake(t, m)
	first := login(t, m, "w1", "pw1")
	f.mu.Lock()
	f.session, f.mute = first.GetSession(), true
	f.mu.Unlock()
	second := login(t, m, "w1", "pw1")
	if !second.GetOk() || second.GetSession() == first.GetSession() {
		t.Fatalf("second login: %v", second)
	}
	// Commands now go out on the new session.
	m.RT.System.Root.RequestFuture(actor.NewPID(m.RT.System.Address(), paths.Worker("w1")),
		&messages.StartCommand{CommandId: "c1", Command: &messages.StartCommand_Stat{Stat: &messages.PathCommand{Path: "x"}}}, time.Minute)
	for {
		got := testkit.Recv(t, "a message to the worker", f.got)
		if got.GetStart() != nil {
			if got.GetSession() != second.GetSession() {
				t.Fatal("the command went out on the old session")
			}
			break
		}
		if (got.GetKeepalive() == nil && got.GetDetached() == "") || got.GetSession() != first.GetSession() {
			t.Fatalf("unexpected %v", got)
		}
	}
}
