package state

import (
	"slices"

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
	N  []int  // rows by table, in the order of Tables
}

const rowCountsID = "counts"

// rowCountSchema is tableRowCounts' schema.
func rowCountSchema() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableRowCounts, Indexes: map[string]*memdb.IndexSchema{
		// keyIndex, not memdb's StringFieldIndex: every write transaction
		// reads and replaces the row, and reflection allocated for both.
		IndexID: {Name: IndexID, Unique: true, Indexer: keyIndex{fn: func(o any) (keyVals, bool) { return always(key().str(o.(*rowCounts).ID)) }}},
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
	i := slices.Index(Tables, table)
	if err != nil || raw == nil || i < 0 {
		return 0
	}
	return raw.(*rowCounts).N[i]
}

// Recount adds the rows txn inserted and deleted to the row counts. txn must
// have been opened with TrackChanges; call it just before Commit.
func Recount(txn *memdb.Txn) { recount(txn) }

// recount is Recount; it returns txn's changes without the row counts'
// own (memdb's Changes is worth computing once: it de-duplicates them
// through a map), for the commit hook.
func recount(txn *memdb.Txn) memdb.Changes {
	changes := txn.Changes()
	var delta []int // by table, as Tables: no map per transaction
	var archived map[string]int
	for _, c := range changes {
		if a := archiveOf(c.Table); a != nil {
			// An archived row counts as a row of its table, so that
			// Count stays O(1).
			if archived == nil {
				archived = map[string]int{}
			}
			a.addRows(archived, c.Before, -1)
			a.addRows(archived, c.After, 1)
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
			delta = addDelta(delta, c.Table, d)
		}
	}
	for table, d := range archived {
		delta = addDelta(delta, table, d)
	}
	addCounts(txn, delta)
	return changes
}

// addDelta adds d rows of table to delta (rows by table, as Tables; nil:
// none yet) and returns it.
func addDelta(delta []int, table string, d int) []int {
	i := slices.Index(Tables, table)
	if i < 0 {
		panic("state: rows counted for " + table + ", which is not in Tables") // a programming error
	}
	if delta == nil {
		delta = make([]int, len(Tables))
	}
	delta[i] += d
	return delta
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

// addCounts adds delta (rows by table, as Tables; nil: none) to the row
// counts.
func addCounts(txn *memdb.Txn, delta []int) {
	if !slices.ContainsFunc(delta, func(d int) bool { return d != 0 }) {
		return
	}
	n := make([]int, len(Tables))
	if raw, err := txn.First(tableRowCounts, IndexID, rowCountsID); err == nil && raw != nil {
		copy(n, raw.(*rowCounts).N)
	}
	for i, d := range delta {
		n[i] += d
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
