package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestBuildLifecycle runs a build request through its life — claimed,
// built (two steps, properties, logs), completed with its buildset — beside
// a second request that is unclaimed and completed later, a worker that
// connects and disconnects, and scheduler state; the database after each
// phase is compared with testdata/lifecycle.golden (-update rewrites it).
func TestBuildLifecycle(t *testing.T) {
	db := fixture(t) // request 1 claimed by master 1, build 1 (step 1, log 1); request 2 unclaimed
	sc := &scenario{t: t, db: db}
	phase := func(name string, cmds ...*messages.Command) { sc.phase(name, cmds...) }
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

	sc.golden("lifecycle.golden")
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

// TestFoldedBuild runs request 2 of the fixture through a build made of the
// folded commands the build runner sends — AddBuild claiming the request,
// adding worker_preparation finished and starting the first step;
// FinishStep starting the next step; FinishBuild ending the last step with
// its own results — and checks that each refusal writes nothing. The
// database after each phase is compared with testdata/folded.golden
// (-update rewrites it).
func TestFoldedBuild(t *testing.T) {
	db := fixture(t) // request 2 (builder 2) unclaimed
	sc := &scenario{t: t, db: db}
	phase, refused := sc.phase, sc.refused
	stdio := []string{"stdio"}

	success := func() *int32 { r := int32(ResultSuccess); return &r }
	prep := &messages.AddStep{Name: "worker_preparation", StartedAt: 200, Results: success(), CompleteAt: 200}
	refused(cmd(&messages.AddBuild{Builderid: 2, Buildrequestid: 2, Masterid: 1, StartedAt: 200, ClaimBrids: []uint64{2, 1},
		Steps: []*messages.AddStep{prep}}), "add_build: claim_brids:", "brids[1]: build request 1 is already claimed by master 1")
	refused(cmd(&messages.AddBuild{Builderid: 2, Buildrequestid: 2, Masterid: 1, StartedAt: 200, ClaimBrids: []uint64{2},
		Steps: []*messages.AddStep{prep, {Buildid: 1, Name: "compile", StartedAt: 200}}}), "add_build: steps[1]:", "buildid 1 is not the build's (2)")
	refused(cmd(&messages.AddBuild{Builderid: 2, Buildrequestid: 2, Masterid: 1, StartedAt: 200, ClaimBrids: []uint64{2},
		Steps: []*messages.AddStep{{Name: "worker_preparation", StartedAt: 200, Results: success()}}}), "add_build: steps[0]:", "complete_at is required with results")

	res := phase("request 2 is claimed by its build, which starts with worker_preparation (done) and its first step",
		cmd(&messages.AddBuild{Builderid: 2, Buildrequestid: 2, Masterid: 1, StartedAt: 200, WorkerName: "w2", StateString: "building",
			ClaimBrids: []uint64{2}, Steps: []*messages.AddStep{prep, {Name: "compile", StartedAt: 200, LogNames: stdio}}}))
	if got := res[0].GetIds(); res[0].GetId() != 2 || !slices.Equal(got, []uint64{2, 3, 2}) {
		t.Fatalf("AddBuild result %v, want build 2, step 2, step 3 with log 2", res[0])
	}

	res = phase("the first step ends as the next starts",
		cmd(&messages.FinishStep{Stepid: 3, Results: ResultWarnings, CompleteAt: 210, Append: &messages.AppendLog{Logid: 2, Content: "owarning\n"},
			Next: &messages.AddStep{Name: "test", StartedAt: 210, LogNames: stdio}}))
	if got := res[0].GetIds(); !slices.Equal(got, []uint64{4, 3}) {
		t.Fatalf("FinishStep result %v, want step 4 with log 3", res[0])
	}

	refused(cmd(&messages.FinishBuild{Buildid: 2, Results: ResultSuccess, CompleteAt: 220, Brids: []uint64{2},
		LastStep: &messages.FinishStep{Stepid: 1, Results: ResultSuccess, CompleteAt: 220}}), "finish_build:", "last_step: step 1 is not a step of build 2")
	refused(cmd(&messages.FinishBuild{Buildid: 2, Results: ResultSuccess, CompleteAt: 220, Brids: []uint64{2},
		LastStep: &messages.FinishStep{Stepid: 4, Results: ResultSuccess, CompleteAt: 220, Next: &messages.AddStep{Name: "x"}}}), "finish_build:", "last_step: a build's last step starts no next one")

	phase("the build ends with its last step, which keeps its own results; the request completes (the buildset waits for request 1)",
		cmd(&messages.FinishBuild{Buildid: 2, Results: ResultWarnings, CompleteAt: 220, StateString: "warnings", Brids: []uint64{2},
			LastStep: &messages.FinishStep{Stepid: 4, Results: ResultSuccess, CompleteAt: 220, Append: &messages.AppendLog{Logid: 3, Content: "ook\n"}}}))

	sc.golden("folded.golden")
}

// TestChangeWithState: AddChange sets its change source's state in the
// same transaction — a new object, then a new value of it — and a bad state
// refuses the change with it, as a bad change refuses the state: each
// refusal writes nothing. The database after each phase is compared with
// testdata/change_state.golden (-update rewrites it).
func TestChangeWithState(t *testing.T) {
	db := fixture(t) // change 1 (alice, main)
	sc := &scenario{t: t, db: db}
	phase, refused := sc.phase, sc.refused
	lastRev := func(revs string) *messages.SetObjectState {
		return &messages.SetObjectState{ObjectName: "poll", ClassName: "GitPoller", Name: "lastRev", ValueJson: revs}
	}
	withState := func(c *messages.Change, st *messages.SetObjectState) *messages.Command {
		return cmd(&messages.AddChange{Change: c, State: st})
	}

	refused(withState(change("bob", "main", 200), lastRev(`{"main":`)),
		"add_change: state:", "set_object_state: value_json is not valid JSON")
	refused(withState(change("bob", "main", 200), &messages.SetObjectState{ObjectName: "poll", ClassName: "GitPoller", ValueJson: `{}`}),
		"add_change: state:", "name is required")
	refused(withState(change("bob", "main", 200), lastRev(`"`+strings.Repeat("r", MaxPropertyValueBytes)+`"`)),
		"add_change: state:", "value_json is 65538 bytes, limit 65536")
	refused(withState(&messages.Change{Author: "bob", WhenTimestamp: 200, Branch: "main", Comments: strings.Repeat("x", MaxCommentsBytes+1)},
		lastRev(`{"main":"rev-bob"}`)), "add_change:", "change.comments is 65537 bytes")
	refused(withState(&messages.Change{Author: "bob", WhenTimestamp: 200, ParentChangeids: []uint64{9}}, lastRev(`{"main":"rev-bob"}`)),
		"add_change:", "change.parent_changeids[0]: change 9 does not exist")

	res := phase("a change and its poller's first state (a new object), together",
		withState(change("bob", "main", 200), lastRev(`{"main":"rev-bob"}`)))
	if res[0].GetId() != 2 || res[0].GetSourcestampid() != 2 {
		t.Fatalf("AddChange result %v, want change 2, sourcestamp 2", res[0])
	}
	phase("the next change moves the state on; a change without state leaves it",
		withState(change("carol", "main", 210), lastRev(`{"main":"rev-carol"}`)),
		addChange(change("dave", "dev", 220)))
	if v, ok := ObjectState(db.Txn(false), "poll", "GitPoller", "lastRev"); !ok || v != `{"main":"rev-carol"}` {
		t.Fatalf("ObjectState = %q, %v", v, ok)
	}

	sc.golden("change_state.golden")
}

// scenario applies commands to db in named phases, recording the database
// after each, for a golden file.
type scenario struct {
	t   *testing.T
	db  *memdb.MemDB
	out []byte
}

// phase applies cmds (each must succeed) and records the database.
func (sc *scenario) phase(name string, cmds ...*messages.Command) []*messages.CommandResult {
	sc.t.Helper()
	var res []*messages.CommandResult
	for _, c := range cmds {
		res = append(res, mustApply(sc.t, sc.db, c))
	}
	sc.out = append(sc.out, "== "+name+"\n"...)
	sc.out = append(sc.out, dump(sc.t, sc.db)...)
	return res
}

// refused checks that c is refused as a bad command whose error holds each
// of want, and that it changed nothing.
func (sc *scenario) refused(c *messages.Command, want ...string) {
	sc.t.Helper()
	before := dump(sc.t, sc.db)
	txn := sc.db.Txn(true)
	_, err := Apply(txn, c)
	txn.Abort()
	for _, w := range want {
		if err == nil || !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), w) {
			sc.t.Fatalf("%v: error %v, want a bad command containing %q", c, err, w)
		}
	}
	if after := dump(sc.t, sc.db); after != before {
		sc.t.Fatalf("%v was refused but changed the state:\n%s", c, after)
	}
}

// read records rows as readers see them (through read.go, archived or
// not), under what, one line per row as Dump writes them.
func (sc *scenario) read(what string, rows iter.Seq[proto.Message]) {
	sc.t.Helper()
	sc.out = append(sc.out, "-- "+what+"\n"...)
	for m := range rows {
		js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			sc.t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, js); err != nil {
			sc.t.Fatal(err)
		}
		sc.out = append(sc.out, fmt.Sprintf("%T %s\n", m, buf.Bytes())...)
	}
}

// golden compares what the phases recorded with testdata/name (-update
// rewrites it).
func (sc *scenario) golden(name string) {
	sc.t.Helper()
	testkit.Golden(sc.t, filepath.Join("testdata", name), sc.out)
}
