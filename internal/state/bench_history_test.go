package state

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// history fills db with changes changes (by 500 authors, whose revisions
// make 500 sourcestamps) and builds finished builds over 100 builders,
// each on its change's sourcestamp, with its buildset, request, and three
// steps, two with a stdio log (metadata: the contents are files), as a
// long-running master holds them. Commands go 4096 to a transaction.
func history(b testing.TB, f *fsm, changes, builds int) {
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
	var ss []uint64
	for i := range changes {
		res := apply(addChange(change(fmt.Sprintf("author-%d", i%500), "main", int64(1000+i))))
		if i < builds {
			ss = append(ss, res.GetSourcestampid())
		}
	}
	for i := range builds {
		finishedBuild(apply, i, ss[i])
	}
	Recount(txn)
	txn.Commit()
}

// finishedBuild applies the commands of build i of history, on the
// sourcestamp ssid: a buildset with one request on builder 1+i%100, the
// build with three steps (two with a stdio log), each step finished, the
// build finished.
func finishedBuild(apply func(*messages.Command) *messages.CommandResult, i int, ssid uint64) {
	success := int32(ResultSuccess)
	at := int64(2_000_000 + 10*i)
	bs := apply(cmd(&messages.AddBuildset{Reason: "scheduler", SubmittedAt: at, SourcestampIds: []uint64{ssid},
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

// BenchmarkRecoveryHistory measures Open of a durable store whose snapshot
// holds 1,000,000 changes and 100,000 finished builds (with their
// buildsets, requests, 300,000 steps and 200,000 logs, archived 256
// builds to a segment, and the changes but the newest 1,000 in segments of
// 1,000, as the janitor leaves them): the recovery
// figure. "open" restores that snapshot; "open+tail" restores it
// and replays the 16,384 commands (the default SnapshotThreshold, the most
// the log holds after a snapshot unless SnapshotBytes or SnapshotAge comes
// first) after it: 8,192 new changes and 2,048 more builds, 4 commands
// each. It reports seconds, CPU seconds and minor page faults per Open,
// and the heap and RSS after it.
//
// BENCH_HISTORY_DIR, when set, is where the state is made (and left, as
// DIR/archived and DIR/archived-tail, for a master's data directory DIR);
// otherwise a temporary directory. Each is made only when it does not
// exist.
func BenchmarkRecoveryHistory(b *testing.B) {
	changes, builds := testkit.ShortOr(1_000_000, 2000), testkit.ShortOr(100_000, 200)
	tailChanges, tailBuilds := testkit.ShortOr(8192, 64), testkit.ShortOr(2048, 16)
	root := os.Getenv("BENCH_HISTORY_DIR")
	if root == "" {
		root = b.TempDir()
	}
	dir, tailDir := filepath.Join(root, "archived"), filepath.Join(root, "archived-tail")
	// No snapshot but the one made here: not on Close, not by raft or the
	// Store's policy while the tail is written or after an Open.
	opts := Options{Logger: quiet(), NoSnapshotOnClose: true, StartTimeout: 10 * time.Minute,
		SnapshotThreshold: 1 << 40, SnapshotInterval: time.Hour, SnapshotBytes: 1 << 40, SnapshotAge: 1 << 40}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		start := time.Now()
		s, err := Open(dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		db, _ := NewDB()
		s.fsm.db.Store(db)
		history(b, s.fsm, changes, builds)
		archiveAll(b, s.fsm.db.Load(), 256)
		archiveChangesAsJanitor(b, s.fsm.db.Load(), 1000, 1000)
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
	// The tail is made only when open+tail runs.
	makeTail := func(b *testing.B) {
		if _, err := os.Stat(tailDir); os.IsNotExist(err) {
			start := time.Now()
			if err := os.CopyFS(tailDir+".tmp", os.DirFS(dir)); err != nil {
				b.Fatal(err)
			}
			s, err := Open(tailDir+".tmp", opts)
			if err != nil {
				b.Fatal(err)
			}
			fillChanges(b, s, changes, tailChanges)
			submitBuilds(b, s, builds, tailBuilds)
			st := s.Stats()
			b.Logf("tail written in %v: last index %d, snapshot index %d", time.Since(start).Round(time.Millisecond), st.LastIndex, st.LastSnapshotIndex)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(tailDir+".tmp", tailDir); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name            string
		dir             string
		changes, builds int
	}{{"open", dir, changes + 1, builds}, {"open+tail", tailDir, changes + 1 + tailChanges, builds + tailBuilds}} {
		b.Run(c.name, func(b *testing.B) {
			if c.dir == tailDir {
				makeTail(b)
			}
			var wall, cpu time.Duration
			var heap, rss uint64
			var faults int64
			for range b.N {
				runtime.GC()
				start, cpu0, faults0 := time.Now(), testkit.CPUTime(), testkit.MinorFaults()
				s, err := Open(c.dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				wall, cpu = wall+time.Since(start), cpu+testkit.CPUTime()-cpu0
				faults += testkit.MinorFaults() - faults0
				b.StopTimer()
				st := s.Stats()
				if st.Rows[TableChanges] != c.changes || st.Rows[TableBuilds] != c.builds {
					b.Fatalf("recovered %d changes, %d builds; want %d, %d", st.Rows[TableChanges], st.Rows[TableBuilds], c.changes, c.builds)
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
			b.ReportMetric(float64(faults)/float64(b.N), "faults/open")
			b.Logf("load average %s", testkit.LoadAvg())
		})
	}
}

// submitBuilds submits n builds of history, numbered from from, through s
// (each build's commands in turn; 64 builds at once).
func submitBuilds(b *testing.B, s *Store, from, n int) {
	b.Helper()
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			apply := func(c *messages.Command) *messages.CommandResult {
				res, err := s.Submit(c).Wait()
				if err != nil {
					b.Error(err)
					runtime.Goexit()
				}
				return res
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= from+n {
					return
				}
				finishedBuild(apply, i, uint64(1+i%500)) // history has 500 sourcestamps (authors)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
