package state

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// buildWriter returns a function that writes one more build with one step
// as the master writes it — AddChange, AddBuildset, AddBuild (claim,
// steps), FinishBuild (last step, request, buildset) — each command in
// its own transaction applied as the store applies it (with Recount), to
// a database holding a master and a builder.
func buildWriter(tb testing.TB) func() {
	db := newDB(tb)
	f := &fsm{}
	f.db.Store(db)
	apply := func(c *messages.Command) *messages.CommandResult {
		res, err := f.apply(c)
		if err != nil {
			tb.Fatal(err)
		}
		return res
	}
	apply(masterStarted(0, "m1", 100))
	apply(builder("b1"))
	success := int32(ResultSuccess)
	n := 0
	return func() {
		n++
		at := int64(1000 + n)
		apply(addChange(change(fmt.Sprintf("a%d", n), "main", at)))
		bs := apply(buildset(at, 1))
		brid := bs.GetIds()[0]
		res := apply(cmd(&messages.AddBuild{Builderid: 1, Buildrequestid: brid, Masterid: 1, StartedAt: at, WorkerName: "w1",
			StateString: "building", ClaimBrids: []uint64{brid}, Steps: []*messages.AddStep{
				{Name: "worker_preparation", StartedAt: at, Results: &success, CompleteAt: at},
				{Name: "true", StartedAt: at, LogNames: []string{"stdio"}}}}))
		ids := res.GetIds()
		apply(cmd(&messages.FinishBuild{Buildid: res.GetId(), Results: ResultSuccess, CompleteAt: at, Brids: []uint64{brid},
			LastStep: &messages.FinishStep{Stepid: ids[1], Results: ResultSuccess, CompleteAt: at,
				Append: &messages.AppendLog{Logid: ids[2], Content: "hargv: true\nhprogram finished with exit code 0\n"}}}))
	}
}

// The bounds of TestBuildAllocations, a little above what a build took
// when they were set.
const (
	maxBuildAllocs = 1120
	maxBuildBytes  = 96_000
)

// TestBuildAllocations pins what a build's writes allocate on a database
// of 2,000 builds (BenchmarkApplyBuild measures it on 20,000), so that
// cuts in the state layer do not creep back.
func TestBuildAllocations(t *testing.T) {
	build := buildWriter(t)
	for range 2000 {
		build()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	allocs := testing.AllocsPerRun(200, build)
	runtime.ReadMemStats(&after)
	bytes := float64(after.TotalAlloc-before.TotalAlloc) / 201 // AllocsPerRun runs build once more to warm up
	t.Logf("a build: %.0f allocations, %.0f bytes", allocs, bytes)
	if allocs > maxBuildAllocs {
		t.Errorf("a build's writes take %.0f allocations, want at most %d", allocs, maxBuildAllocs)
	}
	if bytes > maxBuildBytes {
		t.Errorf("a build's writes allocate %.0f bytes, want at most %d", bytes, maxBuildBytes)
	}
}
