package state

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	const total = 100_000
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
	for i := 0; i < 100_000; i++ {
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
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
