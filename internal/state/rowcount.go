package state

import (
	"maps"

	"github.com/hashicorp/go-memdb"
)

// tableRowCounts is the Store's own table of rows per table: one row,
// replaced once by each write transaction that adds or deletes rows. It is
// kept in the same write transaction as the rows it counts, so a read
// transaction sees counts that agree with its rows, and Count is O(1)
// however large the table. It is derived data: snapshots leave it out and
// ReadSnapshot recounts.
const tableRowCounts = "rowcounts"

// rowCounts is the one row of tableRowCounts; never mutated once inserted.
type rowCounts struct {
	ID string // always rowCountsID
	N  map[string]int
}

const rowCountsID = "counts"

// rowCountSchema is tableRowCounts' schema.
func rowCountSchema() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableRowCounts, Indexes: map[string]*memdb.IndexSchema{
		IndexID: {Name: IndexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
	}}
}

// Count returns the number of rows of table in txn, in O(1); for steps,
// logs, changes, builds, build requests and buildsets, the archived ones
// are included (the archives' segments count as the rows they hold: see
// recount). It is exact for a database
// written by a Store (or ReadSnapshot); a transaction written with Apply
// alone must call Recount before Commit for it to stay so.
func Count(txn *memdb.Txn, table string) int {
	raw, err := txn.First(tableRowCounts, IndexID, rowCountsID)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*rowCounts).N[table]
}

// Recount adds the rows txn inserted and deleted to the row counts. txn must
// have been opened with TrackChanges; call it just before Commit.
func Recount(txn *memdb.Txn) { recount(txn) }

// recount is Recount; it returns txn's changes without the row counts'
// own (memdb's Changes is worth computing once: it de-duplicates them
// through a map), for the commit hook.
func recount(txn *memdb.Txn) memdb.Changes {
	changes := txn.Changes()
	var delta map[string]int
	for _, c := range changes {
		if a := archiveOf(c.Table); a != nil {
			// An archived row counts as a row of its table, so that
			// Count stays O(1).
			if delta == nil {
				delta = map[string]int{}
			}
			a.addRows(delta, c.Before, -1)
			a.addRows(delta, c.After, 1)
		}
		d := 0
		switch {
		case c.Table == tableRowCounts:
		case c.Before == nil && c.After != nil:
			d = 1
		case c.Before != nil && c.After == nil:
			d = -1
		}
		if d != 0 {
			if delta == nil {
				delta = map[string]int{}
			}
			delta[c.Table] += d
		}
	}
	addCounts(txn, delta)
	return changes
}

// restoredCounts adds the rows of txn's archive segments to
// counts (rows by table, as a snapshot restore counted them).
func restoredCounts(txn *memdb.Txn, counts map[string]int) {
	for _, a := range archives {
		for raw := range Scan(txn, a.tableName(), false) {
			a.addRows(counts, raw, 1)
		}
	}
}

// addCounts adds delta (rows by table) to the row counts.
func addCounts(txn *memdb.Txn, delta map[string]int) {
	var n map[string]int
	for table, d := range delta {
		if d == 0 {
			continue
		}
		if n == nil {
			n = map[string]int{}
			if raw, err := txn.First(tableRowCounts, IndexID, rowCountsID); err == nil && raw != nil {
				maps.Copy(n, raw.(*rowCounts).N)
			}
		}
		n[table] += d
	}
	if n == nil {
		return
	}
	if err := txn.Insert(tableRowCounts, &rowCounts{ID: rowCountsID, N: n}); err != nil {
		panic(err) // the schema is static: only a programming error gets here
	}
}

// writeTxn opens a write transaction on db that tracks its changes for Recount.
func writeTxn(db *memdb.MemDB) *memdb.Txn {
	txn := db.Txn(true)
	txn.TrackChanges()
	return txn
}
