package state

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/messages"
)

// history fills db with changes changes (each with its sourcestamp) and
// builds finished builds over 100 builders, each on its own change's
// sourcestamp, with its buildset, request, and three steps with a stdio
// log each (metadata: the contents are files), as a long-running master
// holds them. Commands go 4096 to a transaction.
func history(b *testing.B, f *fsm, changes, builds int) {
	b.Helper()
	txn := f.db.Load().Txn(true)
	seq := &ids{}
	n := 0
	apply := func(c *messages.Command) *messages.CommandResult {
		res, err := applyCmd(txn, seq, c)
		if err != nil {
			b.Fatal(err)
		}
		if n++; n%4096 == 0 {
			Recount(txn)
			txn.Commit()
			txn, seq = f.db.Load().Txn(true), &ids{}
		}
		return res
	}
	apply(masterStarted(0, "m1", 100))
	for i := range 100 {
		apply(builder(fmt.Sprintf("builder-%02d", i)))
	}
	success := int32(ResultSuccess)
	var ss []uint64
	for i := range changes {
		res := apply(addChange(change(fmt.Sprintf("author-%d", i%500), "main", int64(1000+i))))
		if i < builds {
			ss = append(ss, res.GetSourcestampid())
		}
	}
	for i := range builds {
		at := int64(2_000_000 + 10*i)
		bs := apply(cmd(&messages.AddBuildset{Reason: "scheduler", SubmittedAt: at, SourcestampIds: []uint64{ss[i]},
			Builderids: []uint64{uint64(1 + i%100)}, Properties: []*messages.Property{{Name: "scheduler", ValueJson: `"main"`, Source: "Scheduler"}}}))
		brid := bs.GetIds()[0]
		res := apply(cmd(&messages.AddBuild{Builderid: uint64(1 + i%100), Buildrequestid: brid, Masterid: 1, StartedAt: at, WorkerName: "w1",
			StateString: "building", ClaimBrids: []uint64{brid}, Steps: []*messages.AddStep{
				{Name: "worker_preparation", StartedAt: at, Results: &success, CompleteAt: at},
				{Name: "git", StartedAt: at, LogNames: []string{"stdio"}},
				{Name: "test", StartedAt: at, LogNames: []string{"stdio"}}}}))
		ids := res.GetIds()
		apply(cmd(&messages.FinishStep{Stepid: ids[1], Results: ResultSuccess, CompleteAt: at + 1}))
		apply(cmd(&messages.FinishBuild{Buildid: res.GetId(), Results: ResultSuccess, CompleteAt: at + 5, Brids: []uint64{brid},
			LastStep: &messages.FinishStep{Stepid: ids[3], Results: ResultSuccess, CompleteAt: at + 5}}))
	}
	Recount(txn)
	txn.Commit()
}

// BenchmarkRecoveryHistory measures Open of a durable store whose snapshot
// holds 1,000,000 changes and 100,000 finished builds (with their
// buildsets, requests, 300,000 steps and 200,000 logs): the issue's
// recovery figure. It reports seconds and CPU seconds per Open, and the
// heap and RSS after it.
//
// BENCH_HISTORY_DIR, when set, is where the state is made (and left, as
// DIR/state, for a master's data directory DIR); otherwise a temporary
// directory. The state is made only when DIR/state does not exist.
func BenchmarkRecoveryHistory(b *testing.B) {
	if testing.Short() {
		b.Skip("builds 1,000,000 changes and 100,000 builds; not with -short")
	}
	const changes, builds = 1_000_000, 100_000
	root := os.Getenv("BENCH_HISTORY_DIR")
	if root == "" {
		root = b.TempDir()
	}
	dir := filepath.Join(root, "state")
	opts := Options{Logger: quiet(), NoSnapshotOnClose: true, StartTimeout: 10 * time.Minute}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		start := time.Now()
		s, err := Open(dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		db, _ := NewDB()
		s.fsm.db.Store(db)
		history(b, s.fsm, changes, builds)
		// One command through raft, so that there is something to snapshot.
		if _, err := s.Submit(addChange(change("last", "main", 1))).Wait(); err != nil {
			b.Fatal(err)
		}
		if err := s.Snapshot(); err != nil {
			b.Fatal(err)
		}
		st := s.Stats()
		b.Logf("history made in %v: %d rows, snapshots %d MB", time.Since(start).Round(time.Millisecond), st.Rows[TableChanges]+st.Rows[TableBuilds], st.SnapshotBytes>>20)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("open", func(b *testing.B) {
		var wall, cpu time.Duration
		var heap, rss uint64
		for range b.N {
			runtime.GC()
			start, cpu0 := time.Now(), cpuTime()
			s, err := Open(dir, opts)
			if err != nil {
				b.Fatal(err)
			}
			wall, cpu = wall+time.Since(start), cpu+cpuTime()-cpu0
			b.StopTimer()
			st := s.Stats()
			if st.Rows[TableChanges] != changes+1 || st.Rows[TableBuilds] != builds {
				b.Fatalf("recovered %d changes, %d builds", st.Rows[TableChanges], st.Rows[TableBuilds])
			}
			heap, rss = memAfterGC()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(wall.Seconds()/float64(b.N), "s/open")
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/open")
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	})
}
