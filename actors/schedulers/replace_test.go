package schedulers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// A scheduler whose type changes is replaced, as in Buildbot: the reply says
// so, and the old one's timer never fires again. (Reconfigured in place, a
// periodic scheduler turned force kept its timer, which then fired every
// millisecond.) The test waits for another periodic scheduler to fire three
// more times, rather than for a length of time.
func TestSchedulerWhoseTypeChangesIsReplaced(t *testing.T) {
	m := start(t, "", `
workers: [{name: w, password: p}]
builders: [{name: b1, workers: [w], steps: [{shell: {command: ["true"]}}]}]
schedulers:
  - {name: often, type: periodic, periodic_interval: 100ms, builders: [b1]}
  - {name: clock, type: periodic, periodic_interval: 100ms, builders: [b1]}
`)
	count := func(scheduler string) int {
		return len(slices.DeleteFunc(buildsets(m), func(b string) bool { return !strings.HasPrefix(b, scheduler+":") }))
	}
	testkit.Retry(t, func() error {
		if n := count("often"); n < 2 {
			return fmt.Errorf("often made %d buildsets, want 2", n)
		}
		return nil
	})
	old := m.RT.Tree.Lookup(paths.Scheduler("often"))

	cfg := proto.Clone(m.RT.Config()).(*messages.MasterConfig)
	cfg.Schedulers[0].Type, cfg.Schedulers[0].PeriodicInterval = messages.SchedulerType_SCHEDULER_TYPE_FORCE, nil
	r, err := ask.Ask[*messages.ReconfigureResponse](context.Background(), m.RT.System.Root, m.PID,
		&messages.ReconfigureRequest{Token: mastertest.Token, Config: cfg})
	if err != nil || !r.GetOk() {
		t.Fatalf("reconfig: %v %v", r, err)
	}
	want := []*messages.ServiceChange{{Path: paths.Scheduler("often"), Kind: messages.ChangeKind_CHANGE_KIND_REPLACED}}
	if !slices.EqualFunc(r.GetChanges(), want, func(a, b *messages.ServiceChange) bool { return proto.Equal(a, b) }) {
		t.Fatalf("changes %v, want %v", r.GetChanges(), want)
	}
	testkit.Eventually(t, "a new incarnation of often runs", func() bool {
		n := m.RT.Tree.Lookup(paths.Scheduler("often"))
		return n != nil && n != old && n.Status() == "running"
	})
	// The old one has stopped; whatever it sent db before is committed
	// once a later command is.
	if _, err := db.Call(context.Background(), m.RT.System, &messages.Command{Kind: &messages.Command_SetObjectState{
		SetObjectState: &messages.SetObjectState{ObjectName: "test", ClassName: "test", Name: "flush", ValueJson: "1"}}}); err != nil {
		t.Fatal(err)
	}
	before, clock := count("often"), count("clock")
	testkit.Retry(t, func() error {
		if n := count("clock"); n < clock+3 {
			return fmt.Errorf("clock made %d buildsets since, want 3", n-clock)
		}
		return nil
	})
	if n := count("often"); n != before {
		t.Fatalf("often made %d buildsets after it became a force scheduler", n-before)
	}
	if st, _ := m.RT.Tree.Lookup(paths.Scheduler("often")).State().(*messages.SchedulerState); st.GetConfig().GetType() != messages.SchedulerType_SCHEDULER_TYPE_FORCE {
		t.Fatalf("the new often shows %v", st)
	}
}
