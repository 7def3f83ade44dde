package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// TestCleanShutdown: `stop --clean` and SIGUSR1 start Buildbot's clean
// shutdown, `stop --cancel` and a second SIGUSR1 cancel it. While it runs,
// no new build starts (a request forced meanwhile stays queued) and the
// running build finishes SUCCESS; then the master exits 0, marked stopped
// in its state, and the queued request is built after the restart. A plain
// `stop` stops a master at once, its running build ending RETRY.
func TestCleanShutdown(t *testing.T) {
	t.Parallel()
	m, w, gate := gatedBuild(t, true)

	// stop --clean: the request for `other` forced meanwhile is not built…
	if out, errOut, code := m.cli("stop", "--clean", "--no-wait"); code != 0 ||
		!strings.Contains(out, "clean shutdown under way: no new build starts; 1 running") {
		t.Fatalf("stop --clean: exit %d\n%s%s", code, out, errOut)
	}
	m.force("other")
	m.waitAPI("/api/v2/buildrequests/2", `"claimed":false`, `"complete":false`)
	// … until stop --cancel: builds start again.
	if out, errOut, code := m.cli("stop", "--cancel"); code != 0 || !strings.Contains(out, "clean shutdown cancelled") {
		t.Fatalf("stop --cancel: exit %d\n%s%s", code, out, errOut)
	}
	if b := m.waitBuild("other", 1); *b.Results != 0 {
		t.Fatalf("other #1: results %d", *b.Results)
	}
	if out, _, code := m.cli("stop", "--cancel"); code != 0 || !strings.Contains(out, "no clean shutdown was under way") {
		t.Fatalf("stop --cancel again: exit %d\n%s", code, out)
	}

	// SIGUSR1 starts one, a second cancels it, a third starts it again.
	from := m.stderr.count()
	for _, want := range []string{"Initiating clean shutdown", "clean shutdown cancelled", "Initiating clean shutdown"} {
		m.signal(syscall.SIGUSR1)
		from = m.stderr.waitFor(t, from, want) + 1
	}
	m.force("other") // request 3: stays queued
	// stop --clean waits until the master has gone.
	stop := exec.Command(binary, "stop", "--master", m.remote, "--data", filepath.Join(m.dir, "data"), "--clean")
	stop.Env = clientEnv()
	pipe, _ := stop.StdoutPipe()
	stopOut := newLines(pipe, nil)
	if err := stop.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop.Process.Kill() }) // an error only says it has exited
	stopOut.waitFor(t, 0, `clean shutdown under way \(already\): no new build starts; 1 running`)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := m.wait(); code != 0 {
		t.Fatalf("the master exited %d after its clean shutdown", code)
	}
	stopOut.waitFor(t, 0, `the master has stopped`)
	if err := stop.Wait(); err != nil {
		t.Fatalf("stop --clean: %v\n%s", err, strings.Join(stopOut.snapshot(), "\n"))
	}

	// The state after the stop: the master inactive, the running build
	// finished SUCCESS, request 3 queued with no build.
	func() {
		st, err := state.Open(filepath.Join(m.dir, "data", "state"), state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		txn := st.Read()
		if n := state.Count(txn, state.TableMasters); n != 1 {
			t.Fatalf("%d masters rows", n)
		}
		ms, _ := state.Lookup(txn, state.TableMasters, uint64(1)).(*messages.Master)
		if ms.GetActive() || ms.GetLastActive() == 0 {
			t.Fatalf("masters row after the stop: %v", ms)
		}
		b1, _ := state.Lookup(txn, state.TableBuilds, uint64(1)).(*messages.Build)
		if b1.GetResults() != state.ResultSuccess || !b1.HasResults() {
			t.Fatalf("the build that ran through the clean shutdown: %v", b1)
		}
		r3, _ := state.Lookup(txn, state.TableBuildRequests, uint64(3)).(*messages.BuildRequest)
		if r3 == nil || r3.GetComplete() || r3.GetClaim() != nil {
			t.Fatalf("the request forced during the clean shutdown: %v", r3)
		}
		if n := state.Count(txn, state.TableBuilds); n != 2 {
			t.Fatalf("%d builds, want 2 (gated #1, other #1)", n)
		}
	}()

	// Restarted, the master says how its previous run ended, and builds
	// the queued request.
	from = w.stdout.count()
	m.start(binary)
	m.stderr.waitFor(t, 0, `the previous run of this master stopped`)
	w.stdout.waitFor(t, from, `connected`)
	if b := m.waitBuild("other", 2); *b.Results != 0 {
		t.Fatalf("other #2: results %d", *b.Results)
	}

	// A plain stop stops now: the running build ends RETRY.
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	m.force("gated")
	m.waitStepLog("gated", 2, "wait", "waiting")
	if out, errOut, code := m.cli("stop"); code != 0 || !strings.Contains(out, "the master has stopped") {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
	}
	if code := m.wait(); code != 0 {
		t.Fatalf("the master exited %d after stop", code)
	}
	m.stderr.waitFor(t, 0, `builds still running when the master stopped end as RETRY`)
	st, err := state.Open(filepath.Join(m.dir, "data", "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	txn := st.Read()
	ms, _ := state.Lookup(txn, state.TableMasters, uint64(1)).(*messages.Master)
	gated, _ := state.First(txn, state.TableBuilders, state.IndexName, "gated").(*messages.Builder)
	b, _ := state.First(txn, state.TableBuilds, state.IndexBuilderNumber, gated.GetId(), int32(2)).(*messages.Build)
	if ms.GetActive() || b.GetResults() != state.ResultRetry || time.Unix(ms.GetLastActive(), 0).Before(time.Unix(b.GetStartedAt(), 0)) {
		t.Fatalf("after a plain stop: master %v, gated #2 %v", ms, b)
	}
}
