package state

import (
	"testing"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// archiveChangesAsJanitor archives the changes of db as the janitor does
// (every one old enough): all but the newest keep, oldest first, in whole
// segments of batch.
func archiveChangesAsJanitor(b testing.TB, db *memdb.MemDB, keep, batch int) {
	b.Helper()
	ids := ChangesToArchive(db.Txn(false), 1<<62, keep)
	ids = ids[:len(ids)/batch*batch]
	for ; len(ids) > 0; ids = ids[batch:] {
		txn := db.Txn(true)
		txn.TrackChanges()
		if _, err := Apply(txn, cmd(&messages.ArchiveChanges{Changeids: ids[:batch]})); err != nil {
			b.Fatal(err)
		}
		Recount(txn)
		txn.Commit()
	}
}
