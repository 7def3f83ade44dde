package schedulers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/actors/schedulers"
	"github.com/buildmaster/buildmaster/config"
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
// and then every interval; a nightly one with no last run waits for its
// first time (Buildbot's Timed), shown on its tree node; their last run is
// in the state, and a nightly run missed while the master was down happens
// at once after the restart.
func TestTimedSchedulers(t *testing.T) {
	dir := t.TempDir()
	const cfg = `
workers: [{name: w, password: p}]
builders: [{name: b1, workers: [w], steps: [{shell: {command: ["true"]}}]}]
schedulers:
  - {name: often, type: periodic, periodic_interval: 300ms, builders: [b1]}
  - {name: nightly, type: nightly, cron: "0 3 * * *", builders: [b1]}
`
	m := start(t, dir, cfg)
	got := waitBuildsets(t, m, 3) // often ×3
	next := schedulerState(t, m, "nightly").GetNextBuild().AsTime().Local()
	if n := slices.IndexFunc(buildsets(m), func(b string) bool { return strings.HasPrefix(b, "nightly:") }); n >= 0 ||
		next.Hour() != 3 || next.Minute() != 0 || !next.After(time.Now()) || next.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("buildsets %v; nightly's next build %s", got, next)
	}
	if _, ok := state.ObjectState(m.RT.DB.Read(), "often", "PERIODIC", "last_build"); !ok {
		t.Fatal("no last_build for often")
	}

	// The nightly scheduler last built two days ago: it missed a run.
	twoDaysAgo := fmt.Sprint(time.Now().Add(-48 * time.Hour).Unix())
	if _, err := db.Call(context.Background(), m.RT.System, &messages.Command{Kind: &messages.Command_SetObjectState{
		SetObjectState: &messages.SetObjectState{ObjectName: "nightly", ClassName: "NIGHTLY", Name: "last_build", ValueJson: twoDaysAgo}}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	m = start(t, dir, strings.Replace(cfg, "periodic_interval: 300ms", "periodic_interval: 1h", 1))
	testkit.Retry(t, func() error {
		if got := buildsets(m); !slices.ContainsFunc(got, func(b string) bool { return strings.HasPrefix(b, "nightly:") }) {
			return fmt.Errorf("no nightly buildset after the missed run: %v", got)
		}
		return nil
	})
}

// schedulerState is what the scheduler called name shows on its tree node.
func schedulerState(t *testing.T, m *master.Master, name string) *messages.SchedulerState {
	t.Helper()
	var st *messages.SchedulerState
	testkit.Eventually(t, "the state of scheduler "+name, func() bool {
		n := m.RT.Tree.Lookup(paths.Scheduler(name))
		if n == nil {
			return false
		}
		st, _ = n.State().(*messages.SchedulerState)
		return st != nil
	})
	return st
}

// TestNightlyDayOfWeekSeven: day-of-week 7 is Sunday, as in croniter: the
// scheduler's next run is on a Sunday, and it has no error.
func TestNightlyDayOfWeekSeven(t *testing.T) {
	m := start(t, "", `
workers: [{name: w, password: p}]
builders: [{name: b1, workers: [w], steps: [{shell: {command: ["true"]}}]}]
schedulers: [{name: sundays, type: nightly, cron: "0 3 * * 7", builders: [b1]}]
`)
	st := schedulerState(t, m, "sundays")
	next := st.GetNextBuild().AsTime().Local()
	if st.GetLastError() != "" || next.Weekday() != time.Sunday || next.Hour() != 3 || !next.After(time.Now()) ||
		next.After(time.Now().AddDate(0, 0, 7)) {
		t.Fatalf("scheduler state %v; next build %s", st, next)
	}
	if got := buildsets(m); len(got) != 0 {
		t.Fatalf("a nightly scheduler built by itself: %v", got)
	}
}

// TestSchedulerErrorsAreShown: a scheduler that cannot tell when to build
// (its cron expression, injected past the validation, does not parse) logs
// the error, shows it on its tree node, builds nothing, and forgets the
// error once its config is fixed.
func TestSchedulerErrorsAreShown(t *testing.T) {
	body := `
workers: [{name: w, password: p}]
builders: [{name: b1, workers: [w], steps: [{shell: {command: ["true"]}}]}]
schedulers: [{name: nightly, type: nightly, cron: "0 3 * * *", builders: [b1]}]
`
	www, debug := testkit.Listen(t), testkit.Listen(t)
	text := fmt.Sprintf("listen: {debug: %q, www: %q, workers: 127.0.0.1:0, workers_pb: 127.0.0.1:0}\n%s", debug.Addr(), www.Addr(), body)
	cfg, err := config.Load("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	cfg.GetSchedulers()[0].Cron = "0 3 * * 8" // a fault: the validation refuses it
	log, logs := testkit.NewLogs()
	m, err := master.Start(master.Options{Config: cfg, Token: mastertest.Token, NoRemote: true, Ephemeral: true,
		Log: log, Listeners: master.Listeners{WWW: www, Debug: debug}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(10 * time.Second) })
	st := schedulerState(t, m, "nightly")
	if !strings.Contains(st.GetLastError(), `cannot tell when to build next; it will not build until its config changes: cron "0 3 * * 8": `+
		`day-of-week field "8": 8 is out of range 0-7`) || st.GetLastErrorAt() == nil || st.GetNextBuild() != nil {
		t.Fatalf("scheduler state %v", st)
	}
	if !strings.Contains(logs.String(), `level=ERROR msg="scheduler: cannot tell when to build next`) {
		t.Fatalf("the error was not logged:\n%s", logs.String())
	}
	if got := buildsets(m); len(got) != 0 {
		t.Fatalf("buildsets %v", got)
	}
	// Fixed by a reconfig: the error goes, the next build is known.
	res, err := m.Request(context.Background(), &messages.ReconfigureRequest{Token: mastertest.Token, ConfigYaml: []byte(text)})
	if r, ok := res.(*messages.ReconfigureResponse); err != nil || !ok || !r.GetOk() {
		t.Fatalf("reconfig: %v, %v", res, err)
	}
	testkit.Eventually(t, "the error to go", func() bool {
		st := m.RT.Tree.Lookup(paths.Scheduler("nightly")).State().(*messages.SchedulerState)
		return st.GetLastError() == "" && st.GetNextBuild() != nil
	})
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

// A buildset for a change holds the change's properties, source Change, over
// the scheduler's, as Buildbot's addBuildsetForSourceStamps; a triggered
// buildset on the same sourcestamp does not (Buildbot's Triggerable passes
// sourcestamps by value): the build takes them from its changes, under the
// buildset's.
func TestChangePropertiesInTheBuildset(t *testing.T) {
	m := start(t, "", `
workers: [{name: w, password: p}]
builders:
  - {name: b1, workers: [w], steps: [{shell: {command: ["true"]}}]}
schedulers:
  - {name: main-now, type: single_branch, branch: main, builders: [b1], properties: {p: sched, q: sched}}
  - {name: trig, type: triggerable, builders: [b1], properties: {p: trig}}
`)
	_, err := m.RT.System.Root.RequestFuture(actor.NewPID(m.RT.System.Address(), paths.Changes), &messages.AddChange{Change: &messages.Change{
		Author: "a", Branch: "main", Revision: "r1", Properties: []*messages.Property{
			{Name: "p", ValueJson: `"change"`, Source: "what the sender says"}, {Name: "c", ValueJson: `1`}}}}, 10*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	waitBuildsets(t, m, 1)
	// The change manager tags a change's properties, whatever their sender said.
	c, _ := state.Lookup(m.RT.DB.Read(), state.TableChanges, 1).(*messages.Change)
	for _, p := range c.GetProperties() {
		if p.GetSource() != "Change" {
			t.Errorf("change property %s has source %q", p.GetName(), p.GetSource())
		}
	}
	ss := ssOf(m, 1)
	res, err := m.RT.System.Root.RequestFuture(actor.NewPID(m.RT.System.Address(), paths.Schedulers), &messages.TriggerBuilds{
		Scheduler: "trig", SourcestampIds: []uint64{ss}, ParentBuildid: 7}, 10*time.Second).Result()
	if tr, _ := res.(*messages.Triggered); err != nil || tr.GetBuildsetid() == 0 {
		t.Fatalf("trigger: %v %v", res, err)
	}
	waitBuildsets(t, m, 2)
	txn := m.RT.DB.Read()
	for id, want := range map[uint64]string{
		1: `c=1 (Change) p="change" (Change) q="sched" (Scheduler) scheduler="main-now" (Scheduler)`,
		2: `p="trig" (Scheduler) scheduler="trig" (Scheduler)`,
	} {
		bs, _ := state.Lookup(txn, state.TableBuildsets, id).(*messages.Buildset)
		var got []string
		for _, p := range bs.GetProperties() {
			got = append(got, fmt.Sprintf("%s=%s (%s)", p.GetName(), p.GetValueJson(), p.GetSource()))
		}
		slices.Sort(got)
		if strings.Join(got, " ") != want {
			t.Errorf("buildset %d: %s\nwant %s", id, strings.Join(got, " "), want)
		}
	}
}
