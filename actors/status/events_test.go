package status

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/mq"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestPublisher: every committed change of a build's life is published
// under Buildbot's routing keys, its message the row as the data API shows
// it (testdata/events.golden); nothing is published while nobody listens.
// A log's appends come from LogAppended (the log writer), not from the
// state's num_lines.
func TestPublisher(t *testing.T) {
	store := state.OpenEphemeral()
	t.Cleanup(func() { store.Close() })
	bus := mq.New()
	p := NewPublisher(bus, store.Read, slog.New(slog.DiscardHandler))
	store.OnCommit(func(changes memdb.Changes) {
		p.Committed(changes)
		// The log writer's part: the fixture's lines reach the state
		// (AppendLog), where a master's reach a file and are announced
		// with LogAppended; the state's own num_lines changes announce
		// nothing (else the golden would show each append twice).
		for _, c := range changes {
			before, _ := c.Before.(*messages.Log)
			if after, ok := c.After.(*messages.Log); ok && before != nil && after.NumLines > before.NumLines {
				p.LogAppended(after.Id, after.NumLines)
			}
		}
	})

	// Nobody listens: the first change is not even encoded.
	add := func(c *messages.Change) {
		t.Helper()
		if _, err := store.Submit(&messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{Change: c}}}).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	add(&messages.Change{Author: "nobody", Branch: "main", Revision: "r0", WhenTimestamp: 1700000000})
	if st := bus.Stats(); st.Published != 0 {
		t.Fatalf("published %d events with no subscriber", st.Published)
	}

	sub := bus.Subscribe(context.Background(), 10000)
	for n := 2; n <= 7; n++ {
		if _, err := sub.Add(mq.Filter(strings.Split(strings.Repeat("*/", n-1)+"*", "/"))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		add(&messages.Change{Author: "alice", Branch: "main", Revision: fmt.Sprintf("r%d", i+1), WhenTimestamp: 1700000060, Comments: "fix"})
	}
	builds(t, store)
	for _, k := range []*messages.Command{
		{Kind: &messages.Command_ConfigureMaster{ConfigureMaster: &messages.ConfigureMaster{Masterid: 1, Schedulers: []string{"force"}}}},
		{Kind: &messages.Command_SetSchedulerEnabled{SetSchedulerEnabled: &messages.SetSchedulerEnabled{Name: "force"}}},
		{Kind: &messages.Command_SetWorkerState{SetWorkerState: &messages.SetWorkerState{Workerid: 1, Paused: true}}},
		{Kind: &messages.Command_CompleteBuildRequests{CompleteBuildRequests: &messages.CompleteBuildRequests{
			Brids: []uint64{4}, Results: state.ResultCancelled, CompleteAt: 1700001100, UnclaimedOnly: true}}},
		{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{Buildid: 2, Results: state.ResultFailure, CompleteAt: 1700001200}}},
		{Kind: &messages.Command_WorkerDisconnected{WorkerDisconnected: &messages.WorkerDisconnected{Workerid: 1, Masterid: 1}}},
		{Kind: &messages.Command_MasterStopped{MasterStopped: &messages.MasterStopped{Masterid: 1, Time: 1700001300}}},
	} {
		if _, err := store.Submit(k).Wait(); err != nil {
			t.Fatalf("%v: %v", k, err)
		}
	}
	var out strings.Builder
	for _, ev := range sub.Take(nil) {
		class := ""
		if ev.Class != "" {
			class = " [" + ev.Class + "]"
		}
		fmt.Fprintf(&out, "%s%s %s\n", ev.Topic, class, ev.Body)
	}
	testkit.Golden(t, "testdata/events.golden", []byte(out.String()))
}
