package state

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// BenchmarkSubmit measures acknowledged durable writes (AddChange, committed
// to disk and applied) per second with 1, 16 and 256 concurrent writers.
func BenchmarkSubmit(b *testing.B) {
	for _, writers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var next atomic.Int64
			n := int64(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > n {
							return
						}
						if _, err := s.Submit(addChange(change(fmt.Sprintf("a%d", i), "main", i))).Wait(); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "ops/s")
		})
	}
}

// BenchmarkRecovery measures Open of a store holding 100,000 changes:
// "snapshot" after a clean Close (restore the snapshot), "log" as a crash
// leaves it with no snapshot at all (replay every log entry).
func BenchmarkRecovery(b *testing.B) {
	total := testkit.ShortOr(100_000, 2000)
	for _, mode := range []string{"snapshot", "log"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			opts := Options{Logger: quiet()}
			if mode == "log" {
				opts = Options{Logger: quiet(), SnapshotThreshold: 1 << 30, SnapshotInterval: time.Hour, TrailingLogs: 1 << 30, NoSnapshotOnClose: true}
			}
			s, err := Open(dir, opts)
			if err != nil {
				b.Fatal(err)
			}
			submitChanges(b, s, 0, total, 256)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var sum time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				s, err := Open(dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				sum += time.Since(start)
				b.StopTimer()
				if got := s.Stats().Rows[TableChanges]; got != total {
					b.Fatalf("%d changes after recovery", got)
				}
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(sum.Seconds()/float64(b.N), "s/open")
		})
	}
}

// BenchmarkApplyBatch measures Apply alone (AddChange, 256 per transaction,
// as raft's batching FSM does), without raft or disk.
func BenchmarkApplyBatch(b *testing.B) {
	db := newDB(b)
	cmds := make([]*messages.Command, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i += len(cmds) {
		for j := range cmds {
			cmds[j] = addChange(change(fmt.Sprintf("a%d", i+j), "main", int64(i+j+1)))
		}
		txn := db.Txn(true)
		seq := &ids{}
		for _, c := range cmds {
			if _, err := applyCmd(txn, seq, c); err != nil {
				b.Fatal(err)
			}
		}
		txn.Commit()
	}
}

// BenchmarkReadSnapshot measures rebuilding the database from a snapshot of
// 100,000 changes (and their 100,000 sourcestamps).
func BenchmarkReadSnapshot(b *testing.B) {
	db := newDB(b)
	txn := db.Txn(true)
	seq := &ids{}
	for i := range testkit.ShortOr(100_000, 2000) {
		if _, err := applyCmd(txn, seq, addChange(change(fmt.Sprintf("a%d", i), "main", int64(i+1)))); err != nil {
			b.Fatal(err)
		}
	}
	txn.Commit()
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, db.Txn(false)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	runtime.GC()
	cpu := testkit.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric((testkit.CPUTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
}

// fillChanges submits changes from..from+n-1 (AddChange, as submitChanges
// does) from 256 concurrent writers, without remembering what was acked.
func fillChanges(b testing.TB, s *Store, from, n int) {
	b.Helper()
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for w := 0; w < 256; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= from+n {
					return
				}
				if _, err := s.Submit(addChange(change(fmt.Sprintf("author-%d", i), "main", int64(i+1)))).Wait(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// memAfterGC returns the heap in use and the process's resident set after a
// full collection that also returns freed memory to the OS.
func memAfterGC() (heapInuse, rss uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				rss = kb << 10
			}
		}
	}
	return ms.HeapInuse, rss
}

// BenchmarkRecovery1M measures Open of a durable store holding 1,000,000
// changes (target: under 10 s), as a crash leaves it (no snapshot on close):
//
//   - "snapshot": the latest snapshot holds 990,000 changes and the log
//     10,000 entries after it (restore, then replay the tail);
//   - "log": there is no snapshot at all and the log holds all 1,000,000
//     entries (replay every one).
//
// Setting up writes 990,000 changes once through raft (256 concurrent
// writers), copies that directory, and adds the last 10,000 to each copy
// (after a snapshot in the first). It reports seconds per Open, and the
// heap in use and RSS with the recovered store open.
func BenchmarkRecovery1M(b *testing.B) {
	total, tail := testkit.ShortOr(1_000_000, 2000), testkit.ShortOr(10_000, 200)
	root := b.TempDir()
	logDir, snapDir := filepath.Join(root, "log"), filepath.Join(root, "snapshot")
	logOpts := Options{Logger: quiet(), SnapshotThreshold: 1 << 40, SnapshotInterval: time.Hour, TrailingLogs: 1 << 40,
		NoSnapshotOnClose: true, StartTimeout: 10 * time.Minute}
	snapOpts := Options{Logger: quiet(), NoSnapshotOnClose: true, StartTimeout: 10 * time.Minute}

	start := time.Now()
	s, err := Open(logDir, logOpts)
	if err != nil {
		b.Fatal(err)
	}
	fillChanges(b, s, 0, total-tail)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d changes written through raft in %v", total-tail, time.Since(start).Round(time.Millisecond))
	if err := os.CopyFS(snapDir, os.DirFS(logDir)); err != nil {
		b.Fatal(err)
	}
	for _, d := range []struct {
		dir      string
		opts     Options
		snapshot bool
	}{{logDir, logOpts, false}, {snapDir, snapOpts, true}} {
		s, err := Open(d.dir, d.opts)
		if err != nil {
			b.Fatal(err)
		}
		if d.snapshot {
			if err := s.Snapshot(); err != nil {
				b.Fatal(err)
			}
		}
		fillChanges(b, s, total-tail, tail)
		st := s.Stats()
		b.Logf("%s: last index %d, last snapshot index %d, log %d MB, snapshots %d MB", filepath.Base(d.dir),
			st.LastIndex, st.LastSnapshotIndex, st.JournalBytes>>20, st.SnapshotBytes>>20)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("set up in %v", time.Since(start).Round(time.Millisecond))

	for _, c := range []struct {
		name string
		dir  string
		opts Options
	}{{"snapshot", snapDir, snapOpts}, {"log", logDir, logOpts}} {
		b.Run(c.name, func(b *testing.B) {
			var sum time.Duration
			var heap, rss uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				runtime.GC()
				b.StartTimer()
				start := time.Now()
				s, err := Open(c.dir, c.opts)
				if err != nil {
					b.Fatal(err)
				}
				took := time.Since(start)
				sum += took
				b.StopTimer()
				st := s.Stats()
				if got := st.Rows[TableChanges]; got != total {
					b.Fatalf("%d changes after recovery, want %d", got, total)
				}
				heap, rss = memAfterGC()
				b.Logf("%s: recovered %d changes in %v (snapshot index %d, last index %d)", c.name, total,
					took.Round(time.Millisecond), st.LastSnapshotIndex, st.LastIndex)
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(sum.Seconds()/float64(b.N), "s/open")
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		})
	}
}

// BenchmarkBuildRequestMemory measures the heap a table of build requests
// takes: HeapInuse after a full GC, with and without the rows, divided by
// the rows. Buildsets and requests are applied as raft's batching FSM
// applies them (4096 commands per write transaction) to an ephemeral store.
// "changes" is the same measure for 100,000 changes (and their 100,000
// sourcestamps), for comparison.
func BenchmarkBuildRequestMemory(b *testing.B) {
	cases := []struct {
		name             string
		buildsets, width int // width: builders per buildset
		changes          int
	}{
		{buildsets: testkit.ShortOr(100_000, 2000), width: 1},
		{buildsets: testkit.ShortOr(10_000, 200), width: 10},
		{changes: testkit.ShortOr(100_000, 2000)},
	}
	for _, c := range cases {
		c.name = fmt.Sprintf("buildsets=%dx%d", c.buildsets, c.width)
		if c.changes > 0 {
			c.name = fmt.Sprintf("changes=%d", c.changes)
		}
		b.Run(c.name, func(b *testing.B) {
			var perRow, perRowAlloc float64
			for i := 0; i < b.N; i++ {
				s := OpenEphemeral()
				builderids := make([]uint64, c.width)
				for j := range builderids {
					res, err := s.Submit(builder(fmt.Sprintf("builder-%d", j))).Wait()
					if err != nil {
						b.Fatal(err)
					}
					builderids[j] = res.Id
				}
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				rows := c.buildsets * c.width
				table := TableBuildRequests
				if _, err := s.Load(func(yield func(*messages.Command) bool) {
					for j := 0; j < c.buildsets; j++ {
						if !yield(buildset(int64(j+1), builderids...)) {
							return
						}
					}
					for j := 0; j < c.changes; j++ {
						if !yield(addChange(change(fmt.Sprintf("author-%d", j), "main", int64(j+1)))) {
							return
						}
					}
				}, 4096); err != nil {
					b.Fatal(err)
				}
				if c.changes > 0 {
					rows, table = c.changes, TableChanges
				}
				if got := Count(s.Read(), table); got != rows {
					b.Fatalf("%d %s, want %d", got, table, rows)
				}
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(s)
				perRow += float64(after.HeapInuse-before.HeapInuse) / float64(rows)
				perRowAlloc += float64(after.HeapAlloc-before.HeapAlloc) / float64(rows)
			}
			unit := "request"
			if c.changes > 0 {
				unit = "change"
			}
			b.ReportMetric(perRow/float64(b.N), "B/"+unit)
			b.ReportMetric(perRowAlloc/float64(b.N), "live-B/"+unit)
		})
	}
}

// BenchmarkApplyBuild measures the writes of one build with one step, as
// the master writes them (buildWriter), on a database already holding
// 20,000 such builds.
func BenchmarkApplyBuild(b *testing.B) {
	build := buildWriter(b)
	for range 20_000 {
		build()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		build()
	}
}
