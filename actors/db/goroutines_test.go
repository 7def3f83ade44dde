package db_test

import (
	"context"
	"runtime/metrics"
	"slices"
	"testing"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// goroutinesCreated is how many goroutines the process has created.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestGoroutinesPerFinishStep: finishing a step whose log is small costs
// the db service no goroutine of its own, only the mailbox runs of the
// actors it passes through (the db service, the log writer) and the
// store's wait for raft: the log writer
// closes the log and submits the command in its mailbox, and the store's
// one goroutine waits for the command (state.Store.SubmitAsync).
func TestGoroutinesPerFinishStep(t *testing.T) {
	m := mastertest.Start(t, "", t.TempDir(), nil)
	const n = 15
	type step struct{ stepid, logid uint64 }
	steps := make([]step, n)
	for i := range steps {
		_, steps[i].stepid, steps[i].logid = startBuild(t, m, int64(100+i))
		if _, err := db.WriteLog(context.Background(), m.RT.System, steps[i].logid, []byte("hmake\n")); err != nil {
			t.Fatal(err)
		}
	}
	created := make([]uint64, n)
	for i, s := range steps {
		before := goroutinesCreated()
		call(t, m, &messages.FinishStep{Stepid: s.stepid, Results: state.ResultSuccess, CompleteAt: 200,
			Append: &messages.AppendLog{Logid: s.logid, Content: "odone\n"}})
		created[i] = goroutinesCreated() - before
		if m.RT.Logs.Writer(s.logid) != nil {
			t.Fatalf("log %d is still open after its step finished", s.logid)
		}
	}
	// The median: a timer of the master's may fire during a few of them.
	slices.Sort(created)
	if got := created[n/2]; got > 3 {
		t.Errorf("a FinishStep creates %d goroutines (%v), want at most 3: the mailbox runs of the db service and the log writer, and the store's wait", got, created)
	}
}
