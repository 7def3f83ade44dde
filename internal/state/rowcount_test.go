package state

import (
	"testing"

	"github.com/buildmaster/buildmaster/messages"
	"github.com/hashicorp/go-memdb"
)

// TestRecountCounts: the counts follow inserts and deletes across
// transactions, table by table, and a transaction that changes no row
// count leaves them as they were.
func TestRecountCounts(t *testing.T) {
	db := newDB(t)
	txn := writeTxn(db)
	for _, id := range []uint64{1, 2, 3} {
		if err := txn.Insert(TableWorkers, &messages.Worker{Id: id, Name: "w" + string(rune('0'+id))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.Insert(TableMasters, &messages.Master{Id: 1, Name: "m"}); err != nil {
		t.Fatal(err)
	}
	recount(txn)
	txn.Commit()
	txn = writeTxn(db)
	if err := txn.Delete(TableWorkers, &messages.Worker{Id: 2, Name: "w2"}); err != nil {
		t.Fatal(err)
	}
	recount(txn)
	txn.Commit()
	txn = writeTxn(db)
	if err := txn.Insert(TableMasters, &messages.Master{Id: 1, Name: "m", Active: true}); err != nil {
		t.Fatal(err) // an update: no count changes
	}
	recount(txn)
	txn.Commit()
	read := db.Txn(false)
	for table, want := range map[string]int{TableWorkers: 2, TableMasters: 1, TableBuilds: 0, "no such table": 0} {
		if got := Count(read, table); got != want {
			t.Errorf("Count(%s) = %d, want %d", table, got, want)
		}
	}
}

// TestAddCountsAllocs: adding a transaction's row counts allocates the new
// counts row and its slice besides what memdb's lookup and insert take
// (in a transaction that has written the table already), and no map: with
// the counts in a map of every table, copied for each transaction, this
// took 27; with memdb's reflection-based StringFieldIndex on the row's
// id, 12.
func TestAddCountsAllocs(t *testing.T) {
	txn := writeTxn(newDB(t))
	defer txn.Abort()
	delta := addDelta(addDelta(nil, TableBuilds, 1), TableSteps, 2)
	addCounts(txn, delta)
	if n := testing.AllocsPerRun(100, func() { addCounts(txn, delta) }); n > 8 {
		t.Errorf("addCounts allocates %.0f times, want at most 8", n)
	}
}

// TestRowCountKeyIsStringFieldKey: the row counts' id index (keyIndex)
// makes the keys memdb's StringFieldIndex made for it, the row's and a
// lookup's, so that a database written before and after the change reads
// the same.
func TestRowCountKeyIsStringFieldKey(t *testing.T) {
	ours := rowCountSchema().Indexes[IndexID].Indexer.(keyIndex)
	theirs := &memdb.StringFieldIndex{Field: "ID"}
	row := &rowCounts{ID: rowCountsID}
	_, got, err := ours.FromObject(row)
	if err != nil {
		t.Fatal(err)
	}
	_, want, err := theirs.FromObject(row)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("row key %q, StringFieldIndex's %q", got, want)
	}
	if got, err = ours.FromArgs(rowCountsID); err != nil {
		t.Fatal(err)
	}
	if want, err = theirs.FromArgs(rowCountsID); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("lookup key %q, StringFieldIndex's %q", got, want)
	}
}
