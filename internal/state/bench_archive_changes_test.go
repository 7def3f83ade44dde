package state

import (
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// archiveChangesAsJanitor archives the changes of db as the janitor does
// (every one old enough): all but the newest keep, oldest first, in whole
// segments of batch.
func archiveChangesAsJanitor(b testing.TB, db *memdb.MemDB, keep, batch int) {
	b.Helper()
	var ids []uint64 // not ChangesToArchive: history's counts are not kept
	for raw := range scanTable(db.Txn(false), TableChanges, IndexID+"_prefix", false) {
		ids = append(ids, raw.(*messages.Change).Changeid)
	}
	ids = ids[:max(0, len(ids)-keep)/batch*batch]
	applyInBatches(b, db, ids, batch, func(ids []uint64) proto.Message { return &messages.ArchiveChanges{Changeids: ids} })
}

// BenchmarkArchivedChangeReads: the reads of changes the master makes, on
// history's 20,000 changes (500 sourcestamps) in the table (plain) and
// archived as the janitor leaves them (archived): the newest 50 (the
// changes page), the newest 50 of a branch, an old change by id, and the
// changes of an old sourcestamp.
func BenchmarkArchivedChangeReads(b *testing.B) {
	const changes = 20_000
	for _, c := range []struct {
		name    string
		archive bool
	}{{"plain", false}, {"archived", true}} {
		f := &fsm{}
		f.db.Store(newDB(b))
		history(b, f, changes, 0)
		if c.archive {
			archiveChangesAsJanitor(b, f.db.Load(), 1000, 1000)
		}
		txn := f.db.Load().Txn(false)
		take := func(seq func(func(proto.Message) bool), n int) {
			for range seq {
				if n--; n == 0 {
					return
				}
			}
		}
		for _, r := range []struct {
			name string
			read func()
		}{
			{"newest-50", func() { take(Scan(txn, TableChanges, true), 50) }},
			{"branch-newest-50", func() { take(ScanIndex(txn, TableChanges, IndexBranch, true, "main"), 50) }},
			{"lookup-old", func() { Lookup(txn, TableChanges, 10) }},
			{"sourcestamp-old", func() { take(ScanIndex(txn, TableChanges, IndexChangeSourceStamp, false, uint64(7)), 1<<30) }},
		} {
			b.Run(c.name+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r.read()
				}
			})
		}
	}
}
