package test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// worker is a running buildworker process.
type worker struct {
	cmd    *exec.Cmd
	stdout *lines
	stderr *lines
	done   chan struct{}
}

// startWorker runs buildworker NAME against m and waits until it has logged in.
func startWorker(t *testing.T, m *master, name, password string) *worker {
	t.Helper()
	w := startWorkerProcess(t, workerBinary, m, "debug", name, password)
	w.stdout.waitFor(t, 0, `connected`)
	return w
}

type apiBuild struct {
	Buildid     uint64 `json:"buildid"`
	Number      int    `json:"number"`
	Builderid   uint64 `json:"builderid"`
	Results     *int   `json:"results"`
	CompleteAt  int64  `json:"complete_at"`
	StateString string `json:"state_string"`
}

// waitBuild waits until the data API shows a complete build number n of
// builder, and returns it.
func (m *master) waitBuild(builder string, n int) apiBuild {
	m.t.Helper()
	var b apiBuild
	testkit.Eventually(m.t, fmt.Sprintf("build %s/%d complete", builder, n), func() bool {
		code, body := m.wwwGet(fmt.Sprintf("/api/v2/builders/%s/builds/%d", builder, n))
		if code != 200 {
			return false
		}
		var page struct{ Builds []apiBuild }
		if err := json.Unmarshal(body, &page); err != nil {
			m.t.Fatal(err)
		}
		if len(page.Builds) == 1 && page.Builds[0].Results != nil {
			b = page.Builds[0]
			return true
		}
		return false
	})
	return b
}

// waitAPI waits until GET path answers 200 with a body holding every one
// of want (a build is finished before its requests are completed), and
// returns the body.
func (m *master) waitAPI(path string, want ...string) string {
	m.t.Helper()
	var body []byte
	testkit.Retry(m.t, func() error {
		var code int
		code, body = m.wwwGet(path)
		ok := code == 200
		for _, w := range want {
			ok = ok && strings.Contains(string(body), w)
		}
		if !ok {
			return fmt.Errorf("GET %s never held %q; last: %s", path, want, body)
		}
		return nil
	})
	return string(body)
}

// force runs `buildmaster force args…` and fails the test unless it succeeds.
func (m *master) force(args ...string) {
	m.t.Helper()
	if out, errOut, code := m.cli(append([]string{"force"}, args...)...); code != 0 {
		m.t.Fatalf("force %v: exit %d\n%s%s", args, code, out, errOut)
	}
}

// stepLog returns the raw stdio log of step (by name) of a build.
func (m *master) stepLog(buildid uint64, step string) string {
	m.t.Helper()
	code, body, _ := m.wwwGetAny(fmt.Sprintf("/api/v2/builds/%d/steps/%s/logs/stdio/raw", buildid, step))
	if code != 200 {
		m.t.Fatalf("log of step %s of build %d: HTTP %d %s", step, buildid, code, body)
	}
	return string(body)
}

const buildsConfig = `
workers:
  - {name: w1, password: pw1}
builders:
  - name: hello
    workers: [w1]
    properties: {greeting: hello}
    steps:
      - name: say
        shell: {command: [sh, -c, 'echo "%(prop:greeting)s from $(pwd | xargs basename) on %(prop:workername)s"; echo to-stderr >&2']}
      - name: set
        set_property: {property: who, value: "%(prop:buildername)s-%(prop:buildnumber)s"}
      - name: show
        shell: {script: 'echo "who=%(prop:who)s"'}
  - name: failing
    workers: [w1]
    steps:
      - name: ok
        shell: {script: 'echo first'}
      - name: boom
        halt_on_failure: true
        shell: {script: 'echo about to fail; exit 3'}
      - name: skipped
        shell: {script: 'echo never'}
      - name: cleanup
        always_run: true
        shell: {script: 'echo cleaning'}
schedulers:
  - {name: force, type: force, builders: [hello, failing]}
`

// TestForcedBuildRunsItsSteps: a forced build runs its steps on a real
// buildworker, its logs hold the real output, and properties flow between
// steps; a failing step fails the build, halts it, and always_run steps
// still run.
func TestForcedBuildRunsItsSteps(t *testing.T) {
	t.Parallel()
	m := startMaster(t, buildsConfig)
	startWorker(t, m, "w1", "pw1")

	out, errOut, code := m.cli("force", "hello", "--reason", "e2e")
	if code != 0 || !strings.Contains(out, "buildset 1 (scheduler force)") {
		t.Fatalf("force: exit %d\n%s%s", code, out, errOut)
	}
	b := m.waitBuild("hello", 1)
	if *b.Results != 0 {
		t.Fatalf("hello #1: results %d (%s)", *b.Results, b.StateString)
	}
	if got := m.stepLog(b.Buildid, "say"); !strings.Contains(got, "hello from build on w1\n") || !strings.Contains(got, "to-stderr\n") ||
		!strings.Contains(got, "program finished with exit code 0") {
		t.Fatalf("log of say:\n%s", got)
	}
	if got := m.stepLog(b.Buildid, "show"); !strings.Contains(got, "who=hello-1\n") {
		t.Fatalf("log of show:\n%s", got)
	}

	m.force("failing")
	f := m.waitBuild("failing", 1)
	if *f.Results != 2 {
		t.Fatalf("failing #1: results %d", *f.Results)
	}
	// Buildbot's worker_preparation pseudo-step comes first.
	if got := m.stepResults(f.Buildid); got != "worker_preparation=0 ok=0 boom=2 cleanup=0" {
		t.Fatalf("steps: %v", got)
	}
	if got := m.stepLog(f.Buildid, "boom"); !strings.Contains(got, "about to fail\n") || !strings.Contains(got, "exit code 3") {
		t.Fatalf("log of boom:\n%s", got)
	}

	// The requests and buildsets are complete, with the build's results.
	var reqs struct {
		Buildrequests []struct {
			Complete bool
			Results  *int
		}
	}
	m.waitAPI("/api/v2/buildrequests/2", `"results":2`)
	body := []byte(m.waitAPI("/api/v2/buildrequests", `"complete":true,"complete_at"`))
	json.Unmarshal(body, &reqs)
	if len(reqs.Buildrequests) != 2 || !reqs.Buildrequests[0].Complete || *reqs.Buildrequests[1].Results != 2 {
		t.Fatalf("build requests: %s", body)
	}

	// Refused: a builder no force scheduler lists.
	if out, errOut, code := m.cli("force", "nosuch"); code != 1 || !strings.Contains(errOut, `no force scheduler lists builder "nosuch"`) {
		t.Fatalf("force nosuch: exit %d\n%s%s", code, out, errOut)
	}
}

const slowConfig = `
workers:
  - {name: w1, password: pw1}
  - {name: w2, password: pw2}
builders:
  - name: slow
    workers: [w1, w2]
    steps:
      - name: wait
        shell: {script: 'echo started on %(prop:workername)s; if [ %(prop:workername)s = w1 ]; then for i in $(seq 1200); do [ -e GATE ] && break; sleep 0.05; done; fi; echo finished'}
      - name: after
        shell: {script: 'echo after'}
      - name: cleanup
        always_run: true
        shell: {script: 'echo cleanup'}
schedulers:
  - {name: force, type: force, builders: [slow]}
`

// waitStepLog waits until the raw stdio log of step holds want.
func (m *master) waitStepLog(builder string, number int, step, want string) {
	m.t.Helper()
	testkit.Retry(m.t, func() error {
		code, body, _ := m.wwwGetAny(fmt.Sprintf("/api/v2/builders/%s/builds/%d/steps/%s/logs/stdio/raw", builder, number, step))
		if code != 200 || !strings.Contains(string(body), want) {
			return fmt.Errorf("the log of %s #%d step %s never held %q; last:\n%s", builder, number, step, want, body)
		}
		return nil
	})
}

func (m *master) stepResults(buildid uint64) string {
	m.t.Helper()
	var steps struct {
		Steps []struct {
			Name    string
			Results *int
		}
	}
	_, body := m.wwwGet(fmt.Sprintf("/api/v2/builds/%d/steps", buildid))
	if err := json.Unmarshal(body, &steps); err != nil {
		m.t.Fatal(err)
	}
	var out []string
	for _, s := range steps.Steps {
		r := -1
		if s.Results != nil {
			r = *s.Results
		}
		out = append(out, fmt.Sprintf("%s=%d", s.Name, r))
	}
	return strings.Join(out, " ")
}

// TestStopBuild: stop-build interrupts the running step (its process group
// is killed), skips the rest but always_run steps, and the build and its
// request end CANCELLED.
func TestStopBuild(t *testing.T) {
	t.Parallel()
	m := startMaster(t, strings.ReplaceAll(slowConfig, "GATE", filepath.Join(t.TempDir(), "gate")))
	startWorker(t, m, "w1", "pw1")
	m.force("slow")
	m.waitStepLog("slow", 1, "wait", "started on w1")
	if out, errOut, code := m.cli("stop-build", "slow", "1", "--reason", "enough"); code != 0 || !strings.Contains(out, "stopping build slow #1") {
		t.Fatalf("stop-build: exit %d\n%s%s", code, out, errOut)
	}
	b := m.waitBuild("slow", 1)
	if *b.Results != 6 {
		t.Fatalf("results %d, want CANCELLED (6)", *b.Results)
	}
	if got := m.stepResults(b.Buildid); got != "worker_preparation=0 wait=6 cleanup=0" {
		t.Fatalf("steps: %s", got)
	}
	m.waitAPI("/api/v2/buildrequests/1", `"complete":true`, `"results":6`)
	// Refusals.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stop-build", "slow", "1"}, "already finished"},
		{[]string{"stop-build", "slow", "9"}, "has no build 9"},
		{[]string{"stop-build", "nosuch", "1"}, `there is no builder "nosuch"`},
		{[]string{"stop-build", "slow", "x"}, `NUMBER "x"`},
	} {
		if _, errOut, code := m.cli(c.args...); code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %s", c.args, code, errOut)
		}
	}
}

// TestWorkerLostMidBuild: a worker killed mid-build ends the build RETRY;
// its request goes back to the queue (Buildbot leaves it claimed) and runs
// again on another worker.
func TestWorkerLostMidBuild(t *testing.T) {
	t.Parallel()
	gate := filepath.Join(t.TempDir(), "gate")
	// The killed worker's command is orphaned (as with any crash); the gate
	// lets it end.
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	m := startMaster(t, strings.ReplaceAll(slowConfig, "GATE", gate))
	w1 := startWorker(t, m, "w1", "pw1")
	m.force("slow")
	m.waitStepLog("slow", 1, "wait", "started on w1")
	w1.cmd.Process.Kill()
	b := m.waitBuild("slow", 1)
	if *b.Results != 5 {
		t.Fatalf("build 1: results %d, want RETRY (5)", *b.Results)
	}
	startWorker(t, m, "w2", "pw2")
	b2 := m.waitBuild("slow", 2)
	if *b2.Results != 0 {
		t.Fatalf("build 2: results %d", *b2.Results)
	}
	if got := m.stepResults(b2.Buildid); got != "worker_preparation=0 wait=0 after=0 cleanup=0" {
		t.Fatalf("build 2 steps: %s", got)
	}
	m.waitAPI("/api/v2/buildsets/1", `"complete":true`, `"results":0`)
	var builds struct{ Builds []apiBuild }
	_, body := m.wwwGet("/api/v2/buildrequests/1/builds")
	json.Unmarshal(body, &builds)
	if len(builds.Builds) != 2 {
		t.Fatalf("request 1 has builds %s", body)
	}
}

const gatedConfig = `
workers:
  - {name: w1, password: pw1}
builders:
  - name: gated
    workers: [w1]
    steps:
      - name: wait
        shell: {script: 'echo waiting; while [ ! -e %s ]; do sleep 0.05; done; echo released'}
  - name: other
    workers: [w1]
    steps:
      - shell: {script: 'true'}
schedulers:
  - {name: force, type: force, builders: [gated, other]}
`

// gatedBuild starts a master on gatedConfig and its worker w1, forces
// builder gated, whose step runs until the file gate exists, and returns
// once the step has said it waits. With restartable, the master's workers
// listener is reserved for the test (testkit.ReservedAddr): a restarted
// master listens on it again, and the worker, which reconnects to the
// address it was given, finds it there.
func gatedBuild(t *testing.T, restartable bool) (m *master, w *worker, gate string) {
	t.Helper()
	gate = filepath.Join(t.TempDir(), "gate")
	m = newMaster(t, "")
	if restartable {
		m.listen.workers = testkit.ReservedAddr(t)
	}
	m.writeConfig(fmt.Sprintf(gatedConfig, gate))
	m.start(binary)
	w = startWorker(t, m, "w1", "pw1")
	m.force("gated")
	m.waitStepLog("gated", 1, "wait", "waiting")
	return m, w, gate
}

// TestBuilderRemovedMidBuild: a builder removed by a reconfig while it
// builds lets its build finish and complete its request (Buildbot wedges
// it), takes no new build, and then leaves the tree.
func TestBuilderRemovedMidBuild(t *testing.T) {
	t.Parallel()
	m, _, gate := gatedBuild(t, false)
	m.writeConfig(`
workers:
  - {name: w1, password: pw1}
builders:
  - name: other
    workers: [w1]
    steps:
      - shell: {script: 'true'}
schedulers:
  - {name: force, type: force, builders: [other]}
`)
	if out, errOut, code := m.cli("reconfig"); code != 0 || !strings.Contains(out, "removed  master/botmaster/builder:gated") {
		t.Fatalf("reconfig: exit %d\n%s%s", code, out, errOut)
	}
	// Still building, still in the tree.
	if m.tree().find("master/botmaster/builder:gated/build:1") == nil {
		t.Fatal("the removed builder's build was stopped")
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b := m.waitBuild("gated", 1)
	if *b.Results != 0 {
		t.Fatalf("results %d", *b.Results)
	}
	m.waitAPI("/api/v2/buildrequests/1", `"complete":true`, `"results":0`)
	m.waitTree("the removed builder to leave", func(n *treeNode) bool { return n.find("master/botmaster/builder:gated") == nil })
}

// TestMasterKilledMidBuild: a master killed while it builds loses no
// request: on restart the build ends RETRY, its request is unclaimed, and
// it runs again once the worker is back.
func TestMasterKilledMidBuild(t *testing.T) {
	t.Parallel()
	m, w, gate := gatedBuild(t, true)
	m.signal(syscall.SIGKILL)
	m.wait()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	from := w.stdout.count()
	m.start(binary)
	w.stdout.waitFor(t, from, `connected`) // the worker logs in again by itself
	if b := m.waitBuild("gated", 1); *b.Results != 5 {
		t.Fatalf("build 1 after the crash: results %d, want RETRY (5)", *b.Results)
	}
	if b := m.waitBuild("gated", 2); *b.Results != 0 {
		t.Fatalf("build 2: results %d", *b.Results)
	}
	m.waitAPI("/api/v2/buildsets/1", `"complete":true`, `"results":0`)
}

const triggerConfig = `
workers:
  - {name: w1, password: pw1}
builders:
  - name: parent
    workers: [w1]
    steps:
      - name: trigger
        trigger: {schedulers: [kids], wait_for_finish: true}
      - name: after
        shell: {script: 'echo parent done'}
  - name: kid
    workers: [w1]
    steps:
      - shell: {script: 'echo kid on %(prop:branch:-nobranch)s; exit %(prop:code:-0)s'}
  - name: downstream
    workers: [w1]
    steps:
      - shell: {script: 'echo downstream'}
schedulers:
  - {name: force, type: force, builders: [parent, kid]}
  - {name: kids, type: triggerable, builders: [kid]}
  - {name: after-force, type: dependent, upstream: force, builders: [downstream]}
`

// TestTriggerAndDependent: a trigger step that waits runs the triggered
// build (on the same sourcestamp) and takes its result; a dependent
// scheduler builds after its upstream's buildset succeeds, not after one
// that fails.
func TestTriggerAndDependent(t *testing.T) {
	t.Parallel()
	m := startMaster(t, triggerConfig)
	startWorker(t, m, "w1", "pw1")
	m.force("parent", "--branch", "feature")
	p := m.waitBuild("parent", 1)
	k := m.waitBuild("kid", 1)
	if *p.Results != 0 || *k.Results != 0 {
		t.Fatalf("parent %d, kid %d", *p.Results, *k.Results)
	}
	if got := m.stepLog(k.Buildid, "shell"); !strings.Contains(got, "kid on feature") {
		t.Fatalf("kid log:\n%s", got)
	}
	if got := m.stepLog(p.Buildid, "trigger"); !strings.Contains(got, "triggered kids: buildset 2") || !strings.Contains(got, "buildset 2 finished: build successful") {
		t.Fatalf("trigger log:\n%s", got)
	}
	if got := m.stepResults(p.Buildid); got != "worker_preparation=0 trigger=0 after=0" {
		t.Fatalf("parent steps: %s", got)
	}
	// The parent's buildset (from force) succeeded: downstream builds.
	if d := m.waitBuild("downstream", 1); *d.Results != 0 {
		t.Fatalf("downstream: %d", *d.Results)
	}
	// A failing upstream buildset starts nothing downstream.
	m.force("kid", "-p", "code:1")
	if k2 := m.waitBuild("kid", 2); *k2.Results != 2 {
		t.Fatalf("kid 2: %d", *k2.Results)
	}
	// Force a passing kid build: downstream #2 follows it, and is the only
	// one (the failed buildset made none).
	m.force("kid")
	if d := m.waitBuild("downstream", 2); *d.Results != 0 {
		t.Fatalf("downstream 2: %d", *d.Results)
	}
	var builds struct{ Builds []apiBuild }
	_, body := m.wwwGet("/api/v2/builders/downstream/builds")
	json.Unmarshal(body, &builds)
	if len(builds.Builds) != 2 {
		t.Fatalf("downstream builds: %s", body)
	}
}

// TestCollapsing: requests queued for a busy builder collapse: the newest
// takes the place of the older ones with the same sources, which complete
// SKIPPED, and one build runs for it.
func TestCollapsing(t *testing.T) {
	t.Parallel()
	gate := filepath.Join(t.TempDir(), "gate")
	m := startMaster(t, fmt.Sprintf(gatedConfig, gate))
	startWorker(t, m, "w1", "pw1")
	for range 3 {
		m.force("gated")
		if m.tree().find("master/botmaster/builder:gated/build:1") == nil {
			m.waitStepLog("gated", 1, "wait", "waiting") // request 1 is building before 2 and 3 arrive
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if b := m.waitBuild("gated", 2); *b.Results != 0 {
		t.Fatalf("build 2: %d", *b.Results)
	}
	var reqs struct {
		Buildrequests []struct {
			ID      uint64 `json:"buildrequestid"`
			Results *int   `json:"results"`
		}
	}
	body := []byte(m.waitAPI("/api/v2/buildrequests/3", `"results":0`))
	json.Unmarshal([]byte(m.waitAPI("/api/v2/buildrequests")), &reqs)
	got := ""
	for _, r := range reqs.Buildrequests {
		got += fmt.Sprintf("%d=%d ", r.ID, *r.Results)
	}
	if got != "1=0 2=3 3=0 " {
		t.Fatalf("requests: %s (%s)", got, body)
	}
	var builds struct{ Builds []apiBuild }
	_, body = m.wwwGet("/api/v2/builders/gated/builds")
	json.Unmarshal(body, &builds)
	if len(builds.Builds) != 2 {
		t.Fatalf("builds: %s", body)
	}
}

const lockedConfig = `
collapse_requests: false
locks:
  - {name: deploy, type: master}
workers:
  - {name: w1, password: pw1}
  - {name: w2, password: pw2}
builders:
  - name: one
    workers: [w1]
    locks: [{name: deploy, access: exclusive}]
    steps: [{name: s, shell: {script: 'if [ -e MARK ]; then echo OVERLAP; exit 1; fi; touch MARK; sleep 0.5; rm MARK'}}]
  - name: two
    workers: [w2]
    locks: [{name: deploy, access: exclusive}]
    steps: [{name: s, shell: {script: 'if [ -e MARK ]; then echo OVERLAP; exit 1; fi; touch MARK; sleep 0.5; rm MARK'}}]
schedulers:
  - {name: force, type: force, builders: [one, two]}
`

// TestLocksSerialise: two builders on two workers that take the same
// exclusive master lock never build at once.
func TestLocksSerialise(t *testing.T) {
	t.Parallel()
	mark := filepath.Join(t.TempDir(), "mark")
	m := startMaster(t, strings.ReplaceAll(lockedConfig, "MARK", mark))
	startWorker(t, m, "w1", "pw1")
	startWorker(t, m, "w2", "pw2")
	for _, b := range []string{"one", "two", "one", "two"} {
		m.force(b)
	}
	for _, b := range []string{"one", "two"} {
		for n := 1; n <= 2; n++ {
			if r := m.waitBuild(b, n); *r.Results != 0 {
				t.Fatalf("%s #%d: results %d, log:\n%s", b, n, *r.Results, m.stepLog(r.Buildid, "s"))
			}
		}
	}
}

// TestWorkerPauseAndStop: a paused worker takes no new build until
// unpaused; a stopped one finishes its build and then shuts down (its
// process exits 0); kill disconnects at once.
func TestWorkerPauseAndStop(t *testing.T) {
	t.Parallel()
	gate := filepath.Join(t.TempDir(), "gate")
	m := startMaster(t, fmt.Sprintf(gatedConfig, gate))
	w := startWorker(t, m, "w1", "pw1")
	if out, errOut, code := m.cli("worker", "pause", "w1"); code != 0 || !strings.Contains(out, "paused true") {
		t.Fatalf("pause: exit %d\n%s%s", code, out, errOut)
	}
	m.force("other")
	// The request waits while the worker is paused.
	if code, _ := m.wwwGet("/api/v2/builders/other/builds/1"); code != 404 {
		t.Fatal("a paused worker took a build")
	}
	if out, errOut, code := m.cli("worker", "unpause", "w1"); code != 0 || !strings.Contains(out, "paused false") {
		t.Fatalf("unpause: exit %d\n%s%s", code, out, errOut)
	}
	if b := m.waitBuild("other", 1); *b.Results != 0 {
		t.Fatalf("other #1: %d", *b.Results)
	}
	// Stop while building: the build finishes, then the worker exits.
	m.force("gated")
	m.waitStepLog("gated", 1, "wait", "waiting")
	if out, errOut, code := m.cli("worker", "stop", "w1"); code != 0 {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
	}
	select {
	case <-w.done:
		t.Fatal("the worker stopped before its build ended")
	default:
	}
	os.WriteFile(gate, nil, 0o644)
	if b := m.waitBuild("gated", 1); *b.Results != 0 {
		t.Fatalf("gated #1: %d", *b.Results)
	}
	testkit.Recv(t, "the stopped worker's exit", w.done)
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the stopped worker exited %d", code)
	}
	if _, errOut, code := m.cli("worker", "pause", "nosuch"); code != 1 || !strings.Contains(errOut, `there is no worker "nosuch"`) {
		t.Fatalf("pause nosuch: exit %d %s", code, errOut)
	}
}

// TestForceOverHTTP: Buildbot's JSON-RPC force on /api/v2/forceschedulers
// starts a build with the admin token; a request with neither the token,
// an Origin nor the page's form token (a forged cross-site post) is
// refused and forces nothing.
func TestForceOverHTTP(t *testing.T) {
	t.Parallel()
	m := startMaster(t, buildsConfig)
	startWorker(t, m, "w1", "pw1")
	_, body := m.wwwGet("/api/v2/forceschedulers")
	if !strings.Contains(string(body), `"builder_names":["hello","failing"]`) {
		t.Fatalf("forceschedulers: %s", body)
	}
	rpc := `{"jsonrpc":"2.0","method":"force","id":7,"params":{"builderNames":["hello"],"reason":"web","greeting":"hi"}}`
	if code, body := m.rpc("forceschedulers/force", "", rpc); code != 403 || !strings.Contains(body, "form token") {
		t.Fatalf("no token: %d %s", code, body)
	}
	if code, body := m.rpc("forceschedulers/force", "wrong", rpc); code != 403 {
		t.Fatalf("wrong token: %d %s", code, body)
	}
	if code, body, _ := m.wwwGetAny("/api/v2/builders/hello/builds/1"); code != 404 {
		t.Fatalf("a refused force started a build: %d %s", code, body)
	}
	code, body2 := m.rpc("forceschedulers/force", m.token, rpc)
	if code != 200 || !strings.Contains(body2, `"id":7`) || !strings.Contains(body2, `"result":[1,{"hello":1}]`) {
		t.Fatalf("force: %d %s", code, body2)
	}
	b := m.waitBuild("hello", 1)
	_, props := m.wwwGet(fmt.Sprintf("/api/v2/builds/%d/properties", b.Buildid))
	// The builder's own greeting wins over the forced one, as in Buildbot.
	if !strings.Contains(string(props), `"reason":["web","Force Build Form"]`) || !strings.Contains(string(props), `"greeting":["hello","Builder"]`) {
		t.Fatalf("build properties: %s", props)
	}
}

// startWorkerProcess runs the buildworker binary bin (the -race one, or a
// benchmark's plain one) as NAME against m, its basedir under m's
// directory, logging at level, without waiting for it to log in; its
// stderr is echoed with -v. It is killed when the test ends.
func startWorkerProcess(t testing.TB, bin string, m *master, level, name, password string) *worker {
	t.Helper()
	w := &worker{done: make(chan struct{})}
	w.cmd = exec.Command(bin, "--master", m.workers, "--name", name, "--basedir", filepath.Join(m.dir, "worker-"+name), "--log-level", level)
	w.cmd.Env = append(os.Environ(), "BUILDWORKER_PASSWORD="+password)
	out, _ := w.cmd.StdoutPipe()
	errp, _ := w.cmd.StderrPipe()
	var echo io.Writer
	if testing.Verbose() {
		echo = os.Stderr
	}
	w.stdout, w.stderr = newLines(out, nil), newLines(errp, echo)
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.done
	})
	return w
}

// connected reports whether the worker has said it logged in.
func (w *worker) connected() bool {
	for _, l := range w.stdout.snapshot() {
		if strings.Contains(l, " connected to ") {
			return true
		}
	}
	return false
}

// TestWorkerRemovedMidBuild: a worker removed by a reconfig while it builds
// finishes the build, and is disconnected (and gone from the tree) once it
// is over.
func TestWorkerRemovedMidBuild(t *testing.T) {
	t.Parallel()
	m, w, gate := gatedBuild(t, true)
	m.writeConfig(fmt.Sprintf(strings.ReplaceAll(gatedConfig, "w1", "w2"), gate))
	if out, errOut, code := m.cli("reconfig"); code != 0 || !strings.Contains(out, "removed  master/botmaster/worker:w1") {
		t.Fatalf("reconfig: exit %d\n%s%s", code, out, errOut)
	}
	if m.tree().find("master/botmaster/worker:w1") == nil {
		t.Fatal("the removed worker left while its build ran")
	}
	from := w.stderr.count()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if b := m.waitBuild("gated", 1); *b.Results != 0 {
		t.Fatalf("gated #1: %d", *b.Results)
	}
	m.waitTree("the removed worker to leave", func(n *treeNode) bool { return n.find("master/botmaster/worker:w1") == nil })
	w.stderr.waitFor(t, from, `master refused the worker name or password`)
}

// TestBuildThatCannotStart: a forced buildset with as many properties as a
// buildset may hold makes a build with more than a build may hold (the
// builder's and worker's own are added): the state refuses to add the build,
// so its request ends EXCEPTION, once, instead of being distributed again
// and again; the worker stays free for the next build.
func TestBuildThatCannotStart(t *testing.T) {
	t.Parallel()
	m := startMaster(t, buildsConfig)
	startWorker(t, m, "w1", "pw1")
	args := []string{"hello"}
	for i := range 997 { // and the force scheduler's reason, owner and scheduler
		args = append(args, "--property", fmt.Sprintf("p%d:v", i))
	}
	m.force(args...)
	m.waitAPI("/api/v2/buildrequests/1", `"complete":true`, `"results":4`)
	m.waitLog(0, `cannot start a build; its requests end as EXCEPTION.*properties has \d+ properties, limit 1000`)
	if _, body := m.wwwGet("/api/v2/builds"); !strings.Contains(string(body), `"total":0`) {
		t.Fatalf("a build was added: %s", body)
	}
	m.force("hello")
	if b := m.waitBuild("hello", 1); *b.Results != 0 {
		t.Fatalf("the next build: results %d (%s)", *b.Results, b.StateString)
	}
}

// TestConnectionActorFailsMidBuild: the actor of a worker's connection
// fails (an injected panic) while the worker builds, with each kind of
// worker. The connection is dropped: the worker's actor lets it go once,
// and it is not attached again (the restarted actor did, and failed to set
// it up: a refused login); the build ends RETRY; the worker logs in again
// by itself, and the build's request runs again on it, and succeeds.
func TestConnectionActorFailsMidBuild(t *testing.T) {
	t.Parallel()
	for _, kind := range []workerKind{buildworkerKind, buildbotWorkerKind("msgpack"), buildbotWorkerKind("pb")} {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			m, from := failMidBuild(t, kind, "master/pbmanager/conn:w1")
			var detached, attached []string
			for _, l := range m.stderr.snapshot()[from:] {
				switch {
				case strings.Contains(l, "worker detached"):
					detached = append(detached, l)
				case strings.Contains(l, "worker attached"):
					attached = append(attached, l)
				case strings.Contains(l, "login refused"):
					t.Errorf("the dropped connection was attached again: %s", l)
				}
			}
			if len(detached) != 1 || len(attached) != 1 || !strings.Contains(detached[0], "connection actor failed") {
				t.Fatalf("after the failure the master logged detached %q and attached %q: want the failed connection detached once, the new one attached once", detached, attached)
			}
		})
	}
}

// TestConnectionManagerFailsMidBuild: pbmanager fails (an injected panic)
// while the worker builds, with each kind of worker. Its restart stops the
// actor of the worker's connection (as its failing past its restart limit
// does), which drops the connection: the build ends RETRY (it waited for
// ever), the worker logs in again by itself, and the build's request runs
// again on it, and succeeds.
func TestConnectionManagerFailsMidBuild(t *testing.T) {
	t.Parallel()
	for _, kind := range []workerKind{buildworkerKind, buildbotWorkerKind("msgpack"), buildbotWorkerKind("pb")} {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			failMidBuild(t, kind, "master/pbmanager")
		})
	}
}

// failMidBuild starts a master and a worker of kind, and crashes the actor
// at path (an injected panic) while the worker builds: the build must end
// RETRY, the worker log in again by itself, and the build's request run
// again on it and succeed. It returns the master and the index of its
// first log line after the crash.
func failMidBuild(t *testing.T, kind workerKind, path string) (*master, int) {
	gate := filepath.Join(t.TempDir(), "gate")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	m := startMaster(t, "debug:\n  actions: true\n"+fmt.Sprintf(gatedConfig, gate))
	kind.start(t, m, "w1", "pw1", filepath.Join(m.dir, "worker-w1"))
	m.stderr.waitFor(t, 0, `worker attached`)
	m.force("gated")
	m.waitStepLog("gated", 1, "wait", "waiting")
	from := m.stderr.count()
	crash(t, m, path)
	if b := m.waitBuild("gated", 1); *b.Results != 5 {
		t.Fatalf("build 1: results %d, want RETRY (5)", *b.Results)
	}
	m.stderr.waitFor(t, from, `worker attached`)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if b := m.waitBuild("gated", 2); *b.Results != 0 {
		t.Fatalf("build 2: results %d, want SUCCESS", *b.Results)
	}
	m.waitAPI("/api/v2/buildsets/1", `"complete":true`, `"results":0`)
	return m, from
}
