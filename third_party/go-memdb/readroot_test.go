package memdb

import (
	"fmt"
	"math/rand"
	"testing"
)

// rootObj is a row of rootSchema's table "t".
type rootObj struct {
	ID    string
	Group string
}

// rootSchema is one table, "t", unique on ID and not on Group.
func rootSchema() *DBSchema {
	return &DBSchema{Tables: map[string]*TableSchema{
		"t": {Name: "t", Indexes: map[string]*IndexSchema{
			"id":    {Name: "id", Unique: true, Indexer: &StringFieldIndex{Field: "ID"}},
			"group": {Name: "group", Indexer: &StringFieldIndex{Field: "Group"}},
		}},
	}}
}

// TestFirstLastAgreeWithWatch checks First and Last, which read through
// readableRoot, against FirstWatch and LastWatch, which read through a
// clone, on random writes, inside write transactions (before and after
// each write) and in read transactions.
func TestFirstLastAgreeWithWatch(t *testing.T) {
	db, err := NewMemDB(rootSchema())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	check := func(txn *Txn) {
		t.Helper()
		lookups := [][]interface{}{
			{"id"}, {"id_prefix", ""}, {"id_prefix", "1"}, {"id_prefix", "9"},
			{"group"}, {"group_prefix", ""}, {"group_prefix", "g"}, {"group_prefix", "x"},
		}
		for i := 0; i < 8; i++ {
			lookups = append(lookups, []interface{}{"id", fmt.Sprint(rng.Intn(200))}, []interface{}{"group", fmt.Sprintf("g%d", rng.Intn(12))},
				[]interface{}{"group_prefix", fmt.Sprintf("g%d", rng.Intn(3))})
		}
		for _, l := range lookups {
			index, args := l[0].(string), l[1:]
			first, err := txn.First("t", index, args...)
			if err != nil {
				t.Fatal(err)
			}
			_, wantFirst, _ := txn.FirstWatch("t", index, args...)
			last, err := txn.Last("t", index, args...)
			if err != nil {
				t.Fatal(err)
			}
			_, wantLast, _ := txn.LastWatch("t", index, args...)
			if first != wantFirst || last != wantLast {
				t.Fatalf("%s %v: First %v, Last %v; FirstWatch %v, LastWatch %v", index, args, first, last, wantFirst, wantLast)
			}
		}
	}
	for round := 0; round < 50; round++ {
		txn := db.Txn(true)
		for op := 0; op < 20; op++ {
			id := fmt.Sprint(rng.Intn(200))
			if rng.Intn(4) == 0 {
				if _, err := txn.DeleteAll("t", "id", id); err != nil {
					t.Fatal(err)
				}
			} else if err := txn.Insert("t", &rootObj{ID: id, Group: fmt.Sprintf("g%d", rng.Intn(12))}); err != nil {
				t.Fatal(err)
			}
			check(txn)
		}
		if rng.Intn(5) == 0 {
			txn.Abort()
		} else {
			txn.Commit()
		}
		check(db.Txn(false))
	}
}

// TestFirstLastKeepWritableNodes pins what an update that follows a First
// and a Last in the same write transaction allocates: the reads leave the
// nodes the transaction already copied writable (a clone forgot them, and
// each update copied its path again), and make no watch channel.
func TestFirstLastKeepWritableNodes(t *testing.T) {
	db, err := NewMemDB(rootSchema())
	if err != nil {
		t.Fatal(err)
	}
	txn := db.Txn(true)
	for i := 0; i < 1000; i++ {
		if err := txn.Insert("t", &rootObj{ID: fmt.Sprint(i), Group: fmt.Sprintf("g%d", i%10)}); err != nil {
			t.Fatal(err)
		}
	}
	txn.Commit()
	txn = db.Txn(true)
	obj := &rootObj{ID: "500", Group: "g0"}
	if err := txn.Insert("t", obj); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := txn.Insert("t", obj); err != nil {
			t.Fatal(err)
		}
		if _, err := txn.First("t", "id", "500"); err != nil {
			t.Fatal(err)
		}
		if _, err := txn.Last("t", "group_prefix", "g"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 18 {
		t.Errorf("an update, a First and a Last take %.0f allocations, want at most 18 (57 when they cloned)", allocs)
	}
}
