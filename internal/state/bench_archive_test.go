package state

import (
	"iter"
	"math"
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// BenchmarkHeapArchived reports the live heap of history's whole database
// (BENCH_HEAP_CHANGES changes and BENCH_HEAP_BUILDS builds, default 100,000
// each; 1,000 with -short) as it is (plain) and once every build's steps and logs are in the
// archive, 500 builds to a segment (archived), and then with the changes
// archived too as the janitor leaves them (archived+changes).
func BenchmarkHeapArchived(b *testing.B) {
	changes, builds := envCount(b, "BENCH_HEAP_CHANGES", testkit.ShortOr(100_000, 1000)), envCount(b, "BENCH_HEAP_BUILDS", testkit.ShortOr(100_000, 1000))
	for _, c := range []struct {
		name    string
		archive bool
		changes bool
	}{{"plain", false, false}, {"archived", true, false}, {"archived+changes", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				heap := heapOf(func() any {
					f := &fsm{}
					f.db.Store(newDB(b))
					history(b, f, changes, builds)
					if c.archive {
						archiveAll(b, f.db.Load(), 500)
					}
					if c.changes {
						archiveChangesAsJanitor(b, f.db.Load(), 1000, 1000)
					}
					return f.db.Load()
				})
				b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(heap)/float64(builds), "B/build")
			}
		})
	}
}

// archiveAll archives every finished build of db, batch to a segment, then
// every buildset that may be (archiveSetsAll).
func archiveAll(b testing.TB, db *memdb.MemDB, batch int) {
	b.Helper()
	var ids []uint64
	for raw := range Scan(db.Txn(false), TableBuilds, false) {
		if bd := raw.(*messages.Build); bd.HasResults() {
			ids = append(ids, bd.Id)
		}
	}
	applyInBatches(b, db, ids, batch, func(ids []uint64) proto.Message { return &messages.Archive{Buildids: ids} })
	archiveSetsAll(b, db, batch)
}

// applyInBatches applies mk(batch) to db for ids, batch of them to a
// committed transaction (its counts kept), as the janitor submits them.
func applyInBatches(b testing.TB, db *memdb.MemDB, ids []uint64, batch int, mk func([]uint64) proto.Message) {
	b.Helper()
	for len(ids) > 0 {
		n := min(batch, len(ids))
		txn := db.Txn(true)
		txn.TrackChanges()
		if _, err := Apply(txn, cmd(mk(ids[:n]))); err != nil {
			b.Fatal(err)
		}
		Recount(txn)
		txn.Commit()
		ids = ids[n:]
	}
}

// archiveSetsAll archives every buildset of db that may be (as the
// janitor would, any time ago), batch to a segment.
func archiveSetsAll(b testing.TB, db *memdb.MemDB, batch int) {
	b.Helper()
	ids := ToArchiveBuildsets(db.Txn(false), math.MaxInt64)
	applyInBatches(b, db, ids, batch, func(ids []uint64) proto.Message { return &messages.ArchiveBuildsets{Buildsetids: ids} })
}

// BenchmarkArchivedSetReads: the reads of builds the data API and the UI
// make, from the tables (plain) and with the buildsets archived
// (archived, 256 to a segment), in a history of BENCH_HEAP_BUILDS builds
// (default 100,000; 1,000 with -short) over 100 builders: a page of the
// newest 50 builds (builds?limit=50&order=-buildid), a builder's newest 50,
// a build by id, a build by builder and number (every number in turn), a build request's builds, a builder's every build (the
// builderid filter), and every build (a filter without an index).
func BenchmarkArchivedSetReads(b *testing.B) {
	builds := envCount(b, "BENCH_HEAP_BUILDS", testkit.ShortOr(100_000, 1000))
	for _, c := range []struct {
		name    string
		archive bool
	}{{"plain", false}, {"archived", true}} {
		f := &fsm{}
		f.db.Store(newDB(b))
		history(b, f, builds, builds)
		if c.archive {
			archiveAll(b, f.db.Load(), 256)
		}
		txn := f.db.Load().Txn(false)
		for _, r := range []struct {
			name string
			want int
			read func(i int) iter.Seq[proto.Message]
		}{
			{"page", 50, func(int) iter.Seq[proto.Message] { return Scan(txn, TableBuilds, true) }},
			{"builder-newest", min(50, builds/100), func(i int) iter.Seq[proto.Message] {
				return ScanIndex(txn, TableBuilds, IndexBuilderNumber+"_prefix", true, uint64(1+i%100))
			}},
			{"lookup", 1, func(i int) iter.Seq[proto.Message] {
				return rowsOf(false, Lookup(txn, TableBuilds, uint64(1+i*7919%builds)))
			}},
			{"builder-number", 1, func(i int) iter.Seq[proto.Message] {
				return rowsOf(false, First(txn, TableBuilds, IndexBuilderNumber, uint64(1+i%100), int32(1+i*7919%(builds/100))))
			}},
			{"request-builds", 1, func(i int) iter.Seq[proto.Message] {
				return ScanIndex(txn, TableBuilds, IndexBuildRequest, false, uint64(1+i*7919%builds))
			}},
			{"builder-all", builds / 100, func(i int) iter.Seq[proto.Message] {
				return ScanIndex(txn, TableBuilds, IndexBuilderNumber+"_prefix", false, uint64(1+i%100))
			}},
			{"all", builds, func(int) iter.Seq[proto.Message] { return Scan(txn, TableBuilds, false) }},
		} {
			b.Run(c.name+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				for i := range b.N {
					n := 0
					for range r.read(i) {
						if n++; n == r.want {
							break
						}
					}
					if n != r.want {
						b.Fatalf("%d rows, want %d", n, r.want)
					}
				}
			})
		}
	}
}

// BenchmarkArchivedReads: reading a build's steps and each step's logs
// (as the build page does), from the tables (plain) and from the archive
// (archived), in a history of 10,000 builds.
func BenchmarkArchivedReads(b *testing.B) {
	const builds = 10_000
	for _, c := range []struct {
		name    string
		archive bool
	}{{"plain", false}, {"archived", true}} {
		b.Run(c.name, func(b *testing.B) {
			f := &fsm{}
			f.db.Store(newDB(b))
			history(b, f, builds, builds)
			if c.archive {
				archiveAll(b, f.db.Load(), 256)
			}
			txn := f.db.Load().Txn(false)
			b.ResetTimer()
			for i := range b.N {
				id := uint64(1 + i*7919%builds)
				n := 0
				for s := range ScanIndex(txn, TableSteps, IndexBuildNumber+"_prefix", false, id) {
					for range ScanIndex(txn, TableLogs, IndexStep, false, s.(*messages.Step).Id) {
						n++
					}
				}
				if n != 2 {
					b.Fatalf("build %d: %d logs, want 2", id, n)
				}
			}
		})
	}
}
