package state

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// TestBuildLifecycle runs a build request through its life — claimed,
// built (two steps, properties, logs), completed with its buildset — beside
// a second request that is unclaimed and completed later, a worker that
// connects and disconnects, and scheduler state; the database after each
// phase is compared with testdata/lifecycle.golden (-update rewrites it).
func TestBuildLifecycle(t *testing.T) {
	db := fixture(t) // request 1 claimed by master 1, build 1 (step 1, log 1); request 2 unclaimed
	var out []byte
	phase := func(name string, cmds ...*messages.Command) {
		t.Helper()
		for _, c := range cmds {
			mustApply(t, db, c)
		}
		out = append(out, "== "+name+"\n"...)
		out = append(out, dump(t, db)...)
	}
	results := func(r int32) int32 { return r }

	phase("worker connects; a property; step 1 passes; step 2 fails",
		cmd(&messages.FindOrAddWorker{Name: "w1"}),
		cmd(&messages.WorkerConnected{Workerid: 1, Masterid: 1, InfoJson: `{"basedir":"/w"}`}),
		cmd(&messages.SetBuildProperties{Buildid: 1, Properties: []*messages.Property{
			{Name: "got_revision", ValueJson: `"abc"`, Source: "Git"}, {Name: "p", ValueJson: `2`, Source: "build"}}}),
		appendLog(1, "compiling\nok\n"),
		cmd(&messages.FinishStep{Stepid: 1, Results: results(ResultSuccess), CompleteAt: 130, StateString: "compiled"}),
		addStep(1, "test", 131),
		addLog(2, "stdio"),
		appendLog(2, "FAIL\n"),
		cmd(&messages.FinishStep{Stepid: 2, Results: results(ResultFailure), CompleteAt: 140}),
	)
	phase("the build ends FAILURE (its open steps with it); its request completes; the buildset waits for request 2",
		addStep(1, "cleanup", 141), addLog(3, "stdio"),
		cmd(&messages.FinishBuild{Buildid: 1, Results: ResultFailure, CompleteAt: 150, StateString: "failed test"}),
		cmd(&messages.CompleteBuildRequests{Brids: []uint64{1}, Results: ResultFailure, CompleteAt: 150}),
	)
	phase("request 2 is claimed, unclaimed by its master, then cancelled: the buildset completes with the worst result",
		claim(1, 160, 2),
		cmd(&messages.UnclaimBuildRequests{Masterid: 1, Brids: []uint64{2}}),
		cmd(&messages.CompleteBuildRequests{Brids: []uint64{2}, Results: ResultCancelled, CompleteAt: 170}),
	)
	phase("the worker disconnects; scheduler state is set, then changed",
		cmd(&messages.WorkerDisconnected{Workerid: 1, Masterid: 1}),
		cmd(&messages.SetObjectState{ObjectName: "nightly", ClassName: "NightlyScheduler", Name: "last_build", ValueJson: `100`}),
		cmd(&messages.SetObjectState{ObjectName: "nightly", ClassName: "NightlyScheduler", Name: "last_build", ValueJson: `200`}),
	)
	phase("the master runs two schedulers and a change source; then a reconfig drops one of each",
		cmd(&messages.ConfigureMaster{Masterid: 1, Schedulers: []string{"nightly", "force"}, ChangeSources: []string{"repo"}}),
		cmd(&messages.ConfigureMaster{Masterid: 1, Schedulers: []string{"force"}}),
	)
	if v, ok := ObjectState(db.Txn(false), "nightly", "NightlyScheduler", "last_build"); !ok || v != "200" {
		t.Fatalf("ObjectState = %q, %v", v, ok)
	}
	if _, ok := ObjectState(db.Txn(false), "nightly", "NightlyScheduler", "other"); ok {
		t.Fatal("an unset value is set")
	}
	// Finishing twice, completing twice: refused.
	for _, c := range []*messages.Command{
		cmd(&messages.FinishBuild{Buildid: 1, Results: ResultSuccess, CompleteAt: 200}),
		cmd(&messages.FinishStep{Stepid: 1, Results: ResultSuccess, CompleteAt: 200}),
		cmd(&messages.CompleteBuildRequests{Brids: []uint64{1}, Results: ResultSuccess, CompleteAt: 200}),
	} {
		txn := db.Txn(true)
		if _, err := Apply(txn, c); err == nil {
			t.Errorf("%v was accepted twice", c)
		}
		txn.Abort()
	}

	golden := filepath.Join("testdata", "lifecycle.golden")
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(out) {
		t.Fatalf("state differs from %s (run with -update if intended):\n%s", golden, out)
	}
}

func TestWorst(t *testing.T) {
	for _, c := range []struct{ a, b, want int32 }{
		{ResultSuccess, ResultSkipped, ResultSuccess},
		{ResultSuccess, ResultWarnings, ResultWarnings},
		{ResultWarnings, ResultFailure, ResultFailure},
		{ResultFailure, ResultException, ResultException},
		{ResultException, ResultRetry, ResultRetry},
		{ResultRetry, ResultCancelled, ResultCancelled},
		{ResultSkipped, ResultSkipped, ResultSkipped},
		{ResultCancelled, ResultSuccess, ResultCancelled},
	} {
		if got := Worst(c.a, c.b); got != c.want {
			t.Errorf("Worst(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Worst(c.b, c.a); got != c.want {
			t.Errorf("Worst(%d, %d) = %d, want %d", c.b, c.a, got, c.want)
		}
	}
}
