package state

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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

// BenchmarkRecoveryHistory measures a master's restart: Open of a durable
// store whose snapshot holds 1,000,000 changes and 100,000 finished builds
// (with their buildsets, requests, 300,000 steps and 200,000 logs,
// archived 256 builds to a segment, and the changes but the newest 1,000
// in segments of 1,000, as the janitor leaves them): the recovery
// figure. "open" restores that snapshot; "open+tail" restores it and
// replays the 16,384 commands (the default SnapshotThreshold, the most the
// log holds after a snapshot unless SnapshotBytes or SnapshotAge comes
// first) after it: 8,192 new changes and 2,048 more builds, 4 commands
// each. It reports seconds, CPU seconds and minor page faults per Open,
// and the heap and RSS after it.
//
// Every Open it measures is the first of a fresh process, as a restarting
// master's is: the test binary run again (TestRecoveryHistoryChild), which
// opens the store once and prints what it measured; ns/op is that whole
// process. The state is made by other such processes. An Open in the
// process that made the state measures that process instead: the seeding
// grows the heap to over 3 GiB and frees it, and the restore's heap
// preparation (prepareRestoreHeap: 14 times the snapshot, 1.8 GiB) and
// then the restore's objects land in that used memory, which the runtime
// zeroes first: 8 CPU-seconds (four fifths of them that zeroing) and
// 430,000 page faults, where a fresh process takes about 2,000.
//
// BENCH_HISTORY_DIR, when set, is where the state is made (and left, as
// DIR/archived and DIR/archived-tail: copied to DATA/state, either is a
// master's with --data DATA); otherwise a temporary directory. Each is
// made only when it does not exist.
func BenchmarkRecoveryHistory(b *testing.B) {
	root := os.Getenv("BENCH_HISTORY_DIR")
	if root == "" {
		root = b.TempDir()
	}
	if _, err := os.Stat(filepath.Join(root, historyDir)); os.IsNotExist(err) {
		recoveryChild(b, root, "seed")
	}
	for _, name := range []string{"open", "open+tail"} {
		b.Run(name, func(b *testing.B) {
			if _, err := os.Stat(filepath.Join(root, historyTailDir)); name == "open+tail" && os.IsNotExist(err) {
				recoveryChild(b, root, "tail") // only when open+tail runs
			}
			var sum [5]float64 // seconds, CPU seconds, faults, heap and RSS bytes
			for range b.N {
				var got [5]float64
				line := recoveryChild(b, root, name)
				if n, err := fmt.Sscan(line, &got[0], &got[1], &got[2], &got[3], &got[4]); err != nil || n != 5 {
					b.Fatalf("child process printed %q: %v", line, err)
				}
				for i := range sum {
					sum[i] += got[i]
				}
			}
			n := float64(b.N)
			b.ReportMetric(sum[0]/n, "s/open")
			b.ReportMetric(sum[1]/n, "cpu-s/open")
			b.ReportMetric(sum[3]/n/(1<<20), "heap-MiB")
			b.ReportMetric(sum[4]/n/(1<<20), "rss-MiB")
			b.ReportMetric(sum[2]/n, "faults/open")
			b.Logf("load average %s", testkit.LoadAvg())
		})
	}
}

// The directories under BENCH_HISTORY_DIR: the history, and a copy of it
// with the tail written after its snapshot.
const historyDir, historyTailDir = "archived", "archived-tail"

// recoveryChildPrefix starts each line TestRecoveryHistoryChild prints for
// BenchmarkRecoveryHistory (the test binary prints its own lines too).
const recoveryChildPrefix = "recovery-history: "

// recoveryChild runs the test binary again as TestRecoveryHistoryChild, to
// do job in root, logs the lines it prints, and returns the last one
// ("" when it printed none); b fails if the child does.
func recoveryChild(b *testing.B, root, job string) (last string) {
	b.Helper()
	args := []string{"-test.run=^TestRecoveryHistoryChild$", "-test.count=1", "-test.timeout=60m"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BENCH_HISTORY_DIR="+root, "BENCH_HISTORY_CHILD="+job)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%s in a child process: %v\n%s", job, err, out)
	}
	for line := range strings.Lines(string(out)) {
		if line, ok := strings.CutPrefix(strings.TrimSpace(line), recoveryChildPrefix); ok {
			b.Logf("%s: %s", job, line)
			last = line
		}
	}
	return last
}

// TestRecoveryHistoryChild is BenchmarkRecoveryHistory's child process
// (otherwise it skips): in BENCH_HISTORY_DIR it makes the history
// (BENCH_HISTORY_CHILD=seed) or its tail (tail), or opens either once
// (open, open+tail) and prints, last, the seconds, CPU seconds and minor
// page faults the Open took, and the heap in use and RSS after it.
func TestRecoveryHistoryChild(t *testing.T) {
	job, root := os.Getenv("BENCH_HISTORY_CHILD"), os.Getenv("BENCH_HISTORY_DIR")
	if job == "" || root == "" {
		t.Skip("BenchmarkRecoveryHistory's child process")
	}
	changes, builds := testkit.ShortOr(1_000_000, 2000), testkit.ShortOr(100_000, 200)
	tailChanges, tailBuilds := testkit.ShortOr(8192, 64), testkit.ShortOr(2048, 16)
	dir, tailDir := filepath.Join(root, historyDir), filepath.Join(root, historyTailDir)
	// No snapshot but the one made here: not on Close, not by raft or the
	// Store's policy while the tail is written or after an Open.
	opts := Options{Logger: quiet(), NoSnapshotOnClose: true, StartTimeout: 10 * time.Minute,
		SnapshotThreshold: 1 << 40, SnapshotInterval: time.Hour, SnapshotBytes: 1 << 40, SnapshotAge: 1 << 40}
	switch job {
	case "seed":
		seedHistory(t, dir, opts, changes, builds)
	case "tail":
		start := time.Now()
		if err := os.CopyFS(tailDir+".tmp", os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		s, err := Open(tailDir+".tmp", opts)
		if err != nil {
			t.Fatal(err)
		}
		fillChanges(t, s, changes, tailChanges)
		submitBuilds(t, s, builds, tailBuilds)
		st := s.Stats()
		fmt.Printf("%stail written in %v: last index %d, snapshot index %d\n", recoveryChildPrefix, time.Since(start).Round(time.Millisecond), st.LastIndex, st.LastSnapshotIndex)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tailDir+".tmp", tailDir); err != nil {
			t.Fatal(err)
		}
	case "open":
		openHistory(t, dir, opts, changes+1, builds)
	case "open+tail":
		openHistory(t, tailDir, opts, changes+1+tailChanges, builds+tailBuilds)
	default:
		t.Fatalf("BENCH_HISTORY_CHILD=%q: not a job", job)
	}
}

// seedHistory makes, in dir, the state of BenchmarkRecoveryHistory: history
// of changes and builds, archived as the janitor leaves it, and one
// command through raft, then a snapshot.
func seedHistory(t *testing.T, dir string, opts Options, changes, builds int) {
	start := time.Now()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	db, _ := NewDB()
	s.fsm.db.Store(db)
	history(t, s.fsm, changes, builds)
	archiveAll(t, s.fsm.db.Load(), 256)
	archiveChangesAsJanitor(t, s.fsm.db.Load(), 1000, 1000)
	// One command through raft, so that there is something to snapshot.
	if _, err := s.Submit(addChange(change("last", "main", 1))).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	fmt.Printf("%shistory made in %v: %d rows, snapshots %d MB\n", recoveryChildPrefix, time.Since(start).Round(time.Millisecond), st.Rows[TableChanges]+st.Rows[TableBuilds], st.SnapshotBytes>>20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// openHistory opens the store in dir once, checks that it holds changes
// and builds, and prints what the Open took (TestRecoveryHistoryChild).
func openHistory(t *testing.T, dir string, opts Options, changes, builds int) {
	runtime.GC()
	start, cpu0, faults0 := time.Now(), testkit.CPUTime(), testkit.MinorFaults()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	wall, cpu, faults := time.Since(start), testkit.CPUTime()-cpu0, testkit.MinorFaults()-faults0
	st := s.Stats()
	if st.Rows[TableChanges] != changes || st.Rows[TableBuilds] != builds {
		t.Fatalf("recovered %d changes, %d builds; want %d, %d", st.Rows[TableChanges], st.Rows[TableBuilds], changes, builds)
	}
	heap, rss := memAfterGC()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s%.3f %.3f %d %d %d\n", recoveryChildPrefix, wall.Seconds(), cpu.Seconds(), faults, heap, rss)
}

// submitBuilds submits n builds of history, numbered from from, through s
// (each build's commands in turn; 64 builds at once).
func submitBuilds(b testing.TB, s *Store, from, n int) {
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
