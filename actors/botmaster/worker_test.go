package botmaster_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	istate "github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// These tests drive a worker's actor in process: a test actor stands where
// the actor of its live connection (under pbmanager) would be, and says
// what a connection says (AttachWorker, WorkerReady, ConnectionLost).

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

// fakeConn is the test's connection of one worker: it attaches on start,
// records what the worker's actor sends it, and, when instant, completes
// every command at once with rc 0 (answering the build, the sender).
type fakeConn struct {
	worker   string
	instant  bool
	got      chan proto.Message
	attached chan *messages.AttachWorkerResponse
	started  chan time.Time // when set, the arrival of each command
}

func (f *fakeConn) Receive(ctx actor.Context) {
	worker := actor.NewPID(ctx.Self().Address, paths.Worker(f.worker))
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Request(worker, &messages.AttachWorker{Remote: "127.0.0.1:1", Protocol: "fake", Connection: ctx.Self().Id})
	case *messages.AttachWorkerResponse:
		if m.GetOk() {
			ctx.Send(worker, &messages.WorkerReady{Connection: ctx.Self().Id, Info: &messages.WorkerInfo{Basedir: "/tmp/" + f.worker,
				Version: "9.9", Info: map[string]string{"admin": "Ada <ada@example.com>"}}})
		}
		if f.attached != nil {
			f.attached <- m
		}
	case *messages.StartCommand:
		if f.started != nil {
			f.started <- time.Now()
		}
		if f.instant {
			ctx.Respond(&messages.CommandUpdate{CommandId: m.GetCommandId(), Kind: &messages.CommandUpdate_Complete{
				Complete: &messages.CommandComplete{Rc: 0}}})
			return
		}
		f.got <- m
	case proto.Message:
		if f.got != nil {
			f.got <- m
		}
	}
}

// attach spawns a fake connection for worker and waits until the worker's
// actor says it is connected.
func attach(t testing.TB, m *master.Master, f *fakeConn) *actor.PID {
	t.Helper()
	pid, err := m.RT.System.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return f }), "fakeconn:"+f.worker)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "worker "+f.worker+" connected", func() bool { return state(m, f.worker).GetConnected() })
	return pid
}

func state(m *master.Master, name string) *messages.WorkerState {
	n := m.RT.Tree.Lookup(paths.Worker(name))
	if n == nil {
		return nil
	}
	st, _ := n.State().(*messages.WorkerState)
	return st
}

// requester is an actor that collects the CommandUpdates it is sent.
func requester(t *testing.T, m *master.Master) (*actor.PID, chan *messages.CommandUpdate) {
	updates := make(chan *messages.CommandUpdate, 10)
	pid, err := m.RT.System.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if u, ok := ctx.Message().(*messages.CommandUpdate); ok {
			updates <- u
		}
	}), "requester")
	if err != nil {
		t.Fatal(err)
	}
	return pid, updates
}

// TestWorkerActorConnection: an attached connection gets the builds'
// commands with the build as their sender; once it says it is lost, the
// worker is detached before it is answered, and a command then completes as
// lost at once.
func TestWorkerActorConnection(t *testing.T) {
	m := mastertest.Start(t, "workers: [{name: w1, password: pw1}]\n", "", nil)
	f := &fakeConn{worker: "w1", got: make(chan proto.Message, 10)}
	conn := attach(t, m, f)
	if st := state(m, "w1"); st.GetInfo().GetBasedir() != "/tmp/w1" || st.GetAddress() != "127.0.0.1:1" {
		t.Fatalf("state %v", st)
	}
	from, updates := requester(t, m)
	wpid := actor.NewPID(m.RT.System.Address(), paths.Worker("w1"))
	m.RT.System.Root.RequestWithCustomSender(wpid, &messages.StartCommand{CommandId: "c1",
		Command: &messages.StartCommand_Listdir{Listdir: &messages.PathCommand{Path: "."}}}, from)
	if got, ok := testkit.Recv(t, "a command at the connection", f.got).(*messages.StartCommand); !ok || got.GetCommandId() != "c1" {
		t.Fatalf("the connection got %v", got)
	}
	lost, err := m.RT.System.Root.RequestFuture(wpid, &messages.ConnectionLost{Reason: "test", Connection: "another"}, time.Minute).Result()
	if _, ok := lost.(*messages.ConnectionLostResponse); !ok || err != nil {
		t.Fatalf("ConnectionLost: %v %v", lost, err)
	}
	// It named another connection than the worker's: the connection stays.
	if !state(m, "w1").GetConnected() {
		t.Fatal("a ConnectionLost of another connection detached the worker")
	}
	if _, err := m.RT.System.Root.RequestFuture(wpid, &messages.ConnectionLost{Reason: "test", Connection: conn.Id}, time.Minute).Result(); err != nil {
		t.Fatal(err)
	}
	// Answered once detached.
	if state(m, "w1").GetConnected() {
		t.Fatal("still connected after the answer to ConnectionLost")
	}
	m.RT.System.Root.RequestWithCustomSender(wpid, &messages.StartCommand{CommandId: "c2",
		Command: &messages.StartCommand_Listdir{Listdir: &messages.PathCommand{Path: "."}}}, from)
	if c := testkit.Recv(t, "the complete", updates).GetComplete(); !c.GetLostConnection() || c.GetRc() != -1 {
		t.Fatalf("a command without a connection: %v", c)
	}
	testkit.Eventually(t, "w1's row says disconnected", func() bool {
		row, _ := istate.First(m.RT.DB.Read(), istate.TableWorkers, istate.IndexName, "w1").(*messages.Worker)
		return row != nil && len(row.GetConnectedTo()) == 0 && strings.Contains(row.GetInfoJson(), `"admin":"Ada`)
	})
}

// TestUnpauseEndsQuarantine (issue 13, item 6): a worker brd put in
// quarantine after builds ended EXCEPTION shows it, with its deadline, on
// its tree node and in /api/v2/workers, and takes no build; unpausing it
// ends the quarantine at once, and a waiting build starts.
func TestUnpauseEndsQuarantine(t *testing.T) {
	logs := &syncBuffer{}
	m := mastertest.Start(t, `
workers: [{name: w1, password: pw1}]
builders: [{name: b1, workers: [w1], steps: [{shell: {command: ['true']}}]}]
schedulers: [{name: force, type: force, builders: [b1]}]
`, "", slog.New(slog.NewTextHandler(logs, nil)))
	f := &fakeConn{worker: "w1", got: make(chan proto.Message, 10)}
	attach(t, m, f)
	// Five builds ended EXCEPTION: 10 s, then 20, 40, 80, 160 s: far past
	// any wait of this test.
	brd := actor.NewPID(m.RT.System.Address(), paths.BRD)
	for range 5 {
		m.RT.System.Root.Send(brd, &messages.BuildFinished{Builder: "b1", Worker: "w1", Results: istate.ResultException})
	}
	var until time.Time
	testkit.Eventually(t, "the quarantine on the tree node", func() bool {
		st := state(m, "w1")
		until = st.GetQuarantineUntil().AsTime()
		return st.GetQuarantineTimeout().AsDuration() == 160*time.Second && until.After(time.Now().Add(100*time.Second))
	})
	// api is w1 as /api/v2/workers shows it; nil while the state has no
	// row for it yet (the worker's row is written after its tree node).
	api := func() map[string]any {
		res, err := http.Get("http://" + m.WWWAddr + "/api/v2/workers/w1")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode == http.StatusNotFound {
			return nil
		}
		var page struct{ Workers []map[string]any }
		if err := json.Unmarshal(b, &page); err != nil || len(page.Workers) != 1 {
			t.Fatalf("/api/v2/workers/w1: %v %s", err, b)
		}
		return page.Workers[0]
	}
	testkit.Eventually(t, "the quarantine in /api/v2/workers", func() bool {
		w := api()
		return w != nil && w["quarantine_until"] == float64(until.Unix()) && w["quarantine_timeout"] == float64(160)
	})

	if _, err := ask.Ask[*messages.ForceBuildResponse](t.Context(), m.RT.System.Root, actor.NewPID(m.RT.System.Address(), paths.Schedulers),
		&messages.ForceBuildRequest{Token: mastertest.Token, Builder: "b1"}); err != nil {
		t.Fatal(err)
	}
	wpid := actor.NewPID(m.RT.System.Address(), paths.Worker("w1"))
	res, err := m.RT.System.Root.RequestFuture(wpid, &messages.WorkerControlRequest{Worker: "w1",
		Action: messages.WorkerAction_WORKER_ACTION_UNPAUSE}, time.Minute).Result()
	if r, ok := res.(*messages.WorkerControlResponse); !ok || err != nil || r.GetPaused() {
		t.Fatalf("unpause: %v %v", res, err)
	}
	if c, ok := testkit.Recv(t, "the waiting build's command", f.got).(*messages.StartCommand); !ok || c.GetShell() == nil {
		t.Fatalf("the connection got %v", c)
	}
	if st := state(m, "w1"); st.GetQuarantineUntil() != nil {
		t.Fatalf("quarantine after unpause: %v", st)
	}
	testkit.Eventually(t, "no quarantine in /api/v2/workers", func() bool {
		w := api()
		return w["quarantine_until"] == nil && w["quarantine_timeout"] == nil
	})
	if !strings.Contains(logs.String(), "worker quarantined") {
		t.Fatalf("the quarantine was not logged:\n%s", logs.String())
	}
}

// TestPausedSurvivesARestart: paused is kept in the state, as Buildbot
// does, and a master started again finds the worker paused.
func TestPausedSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	body := "workers: [{name: w1, password: pw1}]\n"
	m := mastertest.Start(t, body, dir, nil)
	res, err := m.RT.System.Root.RequestFuture(actor.NewPID(m.RT.System.Address(), paths.Worker("w1")),
		&messages.WorkerControlRequest{Worker: "w1", Action: messages.WorkerAction_WORKER_ACTION_PAUSE}, time.Minute).Result()
	if r, ok := res.(*messages.WorkerControlResponse); !ok || err != nil || !r.GetPaused() {
		t.Fatalf("pause: %v %v", res, err)
	}
	testkit.Eventually(t, "paused in the state", func() bool {
		row, _ := istate.First(m.RT.DB.Read(), istate.TableWorkers, istate.IndexName, "w1").(*messages.Worker)
		return row.GetPaused()
	})
	if err := m.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	m2 := mastertest.Start(t, body, dir, nil)
	if st := state(m2, "w1"); !st.GetPaused() {
		t.Fatalf("after a restart: %v", st)
	}
}
