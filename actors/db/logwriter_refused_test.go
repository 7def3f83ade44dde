package db

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/logchunk/logchunktest"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestLogWriterRefusedFinishSyncsSmallLogs: the log writer closes a step's
// small logs in its mailbox and their records ride in the FinishStep; when
// that command is refused, they are synced before the sender hears of it
// (as TestRefusedFinishSyncsSmallLogs asks of finishLogs).
func TestLogWriterRefusedFinishSyncsSmallLogs(t *testing.T) {
	fsys := &logchunktest.PowerLossFS{}
	st, logs := openWithRecords(t, t.TempDir(), fsys)
	defer logs.Close()
	defer st.Close()
	apply(t, st, &messages.MasterStarted{Name: "m", Time: 1})
	_, stepid, ids := AddTestBuild(t, StoreSubmitter(st), 1, 1, "a")
	rt := &service.Runtime{DB: st, Logs: logs, Log: quiet, Stats: &service.Stats{
		LogBytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "b"}),
		DBCommands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"result"})}}
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	lw := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &logWriter{rt: rt} }))
	ask := func(m any) any {
		t.Helper()
		res, err := sys.Root.RequestFuture(lw, m, testkit.DefaultTimeout).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res, ok := ask(&messages.LogWrite{Logid: ids[0], Content: []byte(stepLog(0))}).(*messages.LogWritten); !ok {
		t.Fatalf("LogWrite answered %v", res)
	}
	syncs := fsys.Syncs()
	// Refused: complete_at is required.
	fin := &messages.FinishStep{Stepid: stepid, Results: 0, CompleteAt: 0}
	if res, ok := ask(messages.NewCommand(fin)).(*messages.ControlError); !ok {
		t.Fatalf("a refused FinishStep answered %v, want a ControlError", res)
	}
	if logs.Writer(ids[0]) != nil {
		t.Fatal("the step's log is still open")
	}
	if fsys.Syncs() == syncs {
		t.Error("a refused finish left the small log's record unsynced")
	}
}
