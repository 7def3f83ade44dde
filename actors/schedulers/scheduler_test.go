package schedulers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/actors/schedulers"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

const body = `
workers: [{name: w, password: p}]
builders:
  - {name: b1, workers: [w], steps: [{shell: {command: ["true"]}}]}
  - {name: b2, workers: [w], steps: [{shell: {command: ["true"]}}]}
schedulers:
  - {name: main-now, type: single_branch, branch: main, builders: [b1]}
  - {name: go-only, type: single_branch, branch: gofiles, builders: [b1], file_is_important: ["*.go"]}
  - {name: stable, type: single_branch, branch: stable, builders: [b2], tree_stable_timer: 400ms}
  - {name: any, type: any_branch, branches: [x, y], builders: [b2], tree_stable_timer: 400ms, properties: {p: v}}
`

func start(t *testing.T, dir, cfgBody string) *master.Master {
	t.Helper()
	return mastertest.Start(t, cfgBody, dir, nil)
}

func addChange(t *testing.T, m *master.Master, branch string, files ...string) uint64 {
	t.Helper()
	res, err := m.RT.System.Root.RequestFuture(actor.NewPID(m.RT.System.Address(), paths.Changes), &messages.AddChange{Change: &messages.Change{
		Author: "a", Branch: branch, Revision: fmt.Sprintf("r-%s-%d", branch, time.Now().UnixNano()), Files: files}}, 10*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	r, ok := res.(*messages.SendChangeResponse)
	if !ok {
		t.Fatalf("reply %v", res)
	}
	return r.GetChangeid()
}

// buildsets returns "scheduler:builders:ssid" for each buildset, in order.
func buildsets(m *master.Master) []string {
	txn := m.RT.DB.Read()
	var out []string
	for row := range state.Scan(txn, state.TableBuildsets, false) {
		bs := row.(*messages.Buildset)
		sched := ""
		for _, p := range bs.GetProperties() {
			if p.GetName() == "scheduler" {
				sched = strings.Trim(p.GetValueJson(), `"`)
			}
		}
		var builders []string
		for r := range state.ScanIndex(txn, state.TableBuildRequests, state.IndexBuildset, false, bs.GetId()) {
			b, _ := state.Lookup(txn, state.TableBuilders, r.(*messages.BuildRequest).GetBuilderid()).(*messages.Builder)
			builders = append(builders, b.GetName())
		}
		out = append(out, fmt.Sprintf("%s:%s:%v", sched, strings.Join(builders, ","), bs.GetSourcestampIds()))
	}
	return out
}

func waitBuildsets(t *testing.T, m *master.Master, n int) []string {
	t.Helper()
	var got []string
	testkit.Retry(t, func() error {
		if got = buildsets(m); len(got) < n {
			return fmt.Errorf("%d buildsets, want %d: %v", len(got), n, got)
		}
		return nil
	})
	return got
}

func ssOf(m *master.Master, changeid uint64) uint64 {
	c, _ := state.Lookup(m.RT.DB.Read(), state.TableChanges, changeid).(*messages.Change)
	return c.GetSourcestampid()
}

func TestSingleBranchAndImportance(t *testing.T) {
	m := start(t, "", body)
	// The master records the schedulers it runs.
	testkit.Eventually(t, "the schedulers recorded in the state", func() bool {
		return state.Count(m.RT.DB.Read(), state.TableSchedulers) == 4
	})
	for row := range state.Scan(m.RT.DB.Read(), state.TableSchedulers, false) {
		if s := row.(*messages.Scheduler); s.GetMasterid() != m.RT.MasterID {
			t.Fatalf("scheduler %v not run by master %d", s, m.RT.MasterID)
		}
	}
	c1 := addChange(t, m, "main", "README")
	got := waitBuildsets(t, m, 1)
	if got[0] != fmt.Sprintf("main-now:b1:[%d]", ssOf(m, c1)) {
		t.Fatalf("buildsets %v", got)
	}
	addChange(t, m, "other")                   // no scheduler watches it
	addChange(t, m, "gofiles", "doc/README")   // unimportant: ignored
	c4 := addChange(t, m, "gofiles", "a/b.go") // important
	got = waitBuildsets(t, m, 2)
	if len(got) != 2 || got[1] != fmt.Sprintf("go-only:b1:[%d]", ssOf(m, c4)) {
		t.Fatalf("buildsets %v", got)
	}
}

// TestTreeStableTimer: changes arriving within the timer make one buildset,
// on the newest change's sourcestamp, once the tree is quiet; an
// unimportant change alone starts nothing; any_branch keeps a timer per
// branch.
func TestTreeStableTimer(t *testing.T) {
	m := start(t, "", body)
	addChange(t, m, "stable")
	addChange(t, m, "stable")
	c3 := addChange(t, m, "stable")
	got := waitBuildsets(t, m, 1)
	if len(got) != 1 || got[0] != fmt.Sprintf("stable:b2:[%d]", ssOf(m, c3)) {
		t.Fatalf("buildsets %v", got)
	}
	cx := addChange(t, m, "x")
	cy := addChange(t, m, "y")
	addChange(t, m, "z") // not one of any's branches
	got = waitBuildsets(t, m, 3)
	want := map[string]bool{fmt.Sprintf("any:b2:[%d]", ssOf(m, cx)): true, fmt.Sprintf("any:b2:[%d]", ssOf(m, cy)): true}
	if len(got) != 3 || !want[got[1]] || !want[got[2]] || got[1] == got[2] {
		t.Fatalf("buildsets %v", got)
	}
}

// TestClassifiedChangesSurviveARestart: changes waiting for the tree to be
// stable are in the state; after a restart their timer runs again.
func TestClassifiedChangesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	slow := strings.Replace(body, "tree_stable_timer: 400ms}", "tree_stable_timer: 1h}", 1)
	m := start(t, dir, slow)
	c := addChange(t, m, "stable")
	testkit.Eventually(t, "the classified change in the state", func() bool {
		v, ok := state.ObjectState(m.RT.DB.Read(), "stable", "SINGLE_BRANCH", "classified")
		return ok && strings.Contains(v, fmt.Sprintf(`"changeid":%d`, c))
	})
	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	m = start(t, dir, body) // the timer is 400ms again
	got := waitBuildsets(t, m, 1)
	if got[0] != fmt.Sprintf("stable:b2:[%d]", ssOf(m, c)) {
		t.Fatalf("buildsets %v", got)
	}
}

// TestTimedSchedulers: a periodic scheduler with no last run builds at once
// and then every interval; a nightly one with no last run builds at once;
// their last run is in the state.
func TestTimedSchedulers(t *testing.T) {
	m := start(t, t.TempDir(), `
workers: [{name: w, password: p}]
builders: [{name: b1, workers: [w], steps: [{shell: {command: ["true"]}}]}]
schedulers:
  - {name: often, type: periodic, periodic_interval: 300ms, builders: [b1]}
  - {name: nightly, type: nightly, cron: "0 3 * * *", builders: [b1]}
`)
	got := waitBuildsets(t, m, 4) // often ×3, nightly ×1
	n := map[string]int{}
	for _, g := range got {
		n[strings.SplitN(g, ":", 2)[0]]++
	}
	if n["nightly"] != 1 || n["often"] < 3 {
		t.Fatalf("buildsets %v", got)
	}
	if _, ok := state.ObjectState(m.RT.DB.Read(), "nightly", "NIGHTLY", "last_build"); !ok {
		t.Fatal("no last_build for nightly")
	}
}

func TestChangeFilter(t *testing.T) {
	f := &messages.ChangeFilterConfig{Project: []string{"app", "lib"}, BranchRe: []string{"^release/"}}
	for _, c := range []struct {
		change *messages.Change
		want   bool
	}{
		{&messages.Change{Project: "app", Branch: "release/1.0"}, true},
		{&messages.Change{Project: "lib", Branch: "release/2"}, true},
		{&messages.Change{Project: "doc", Branch: "release/1.0"}, false},
		{&messages.Change{Project: "app", Branch: "main"}, false},
	} {
		if got := schedulers.Passes(f, c.change); got != c.want {
			t.Errorf("%v: %v, want %v", c.change, got, c.want)
		}
	}
	if !schedulers.Passes(nil, &messages.Change{}) {
		t.Error("no filter must pass every change")
	}
}
