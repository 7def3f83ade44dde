package memdb

import (
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
)

// rootModel is what table "t" of rootSchema holds: rows by ID.
type rootModel map[string]*rootObj

func (m rootModel) clone() rootModel {
	c := make(rootModel, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// firstLast returns the rows First and Last must return for a lookup of
// index with args in m, from the index keys StringFieldIndex makes
// (NUL-terminated; a non-unique index's key ends with the row's id key).
func (m rootModel) firstLast(index string, args []interface{}) (first, last *rootObj) {
	prefix := strings.HasSuffix(index, "_prefix")
	var want string
	if len(args) > 0 {
		want = args[0].(string)
		if !prefix {
			want += "\x00"
		}
	}
	var lo, hi string
	for _, o := range m {
		var k string
		switch strings.TrimSuffix(index, "_prefix") {
		case "id":
			k = o.ID + "\x00"
		case "group":
			k = o.Group + "\x00" + o.ID + "\x00"
		}
		if !strings.HasPrefix(k, want) {
			continue
		}
		if first == nil || k < lo {
			first, lo = o, k
		}
		if last == nil || k > hi {
			last, hi = o, k
		}
	}
	return first, last
}

// checkRoot fails (t.Errorf: it runs on other goroutines too) when First or Last in txn disagree with m.
func checkRoot(t *testing.T, what string, rng *rand.Rand, txn *Txn, m rootModel) {
	t.Helper()
	lookups := [][]interface{}{{"id_prefix"}, {"id_prefix", "1"}, {"group_prefix"}, {"group_prefix", "g1"}}
	for i := 0; i < 6; i++ {
		lookups = append(lookups, []interface{}{"id", fmt.Sprint(rng.Intn(60))}, []interface{}{"group", fmt.Sprintf("g%d", rng.Intn(12))},
			[]interface{}{"id_prefix", fmt.Sprint(rng.Intn(10))})
	}
	for _, l := range lookups {
		index, args := l[0].(string), l[1:]
		first, err := txn.First("t", index, args...)
		if err != nil {
			t.Error(err)
			return
		}
		last, err := txn.Last("t", index, args...)
		if err != nil {
			t.Error(err)
			return
		}
		wantFirst, wantLast := m.firstLast(index, args)
		if first != interface{}(wantFirst) && !(first == nil && wantFirst == nil) ||
			last != interface{}(wantLast) && !(last == nil && wantLast == nil) {
			t.Errorf("%s: %s %v: First %v, Last %v; want %v, %v", what, index, args, first, last, wantFirst, wantLast)
			return
		}
	}
}

// TestFirstLastModel checks First and Last, which read the live root,
// against a model (not against FirstWatch, whose clone would reset the
// writable nodes under test) through every kind of write: Insert, Delete,
// DeleteAll, DeletePrefix, Snapshot mid-transaction (the snapshot keeps
// its contents as the transaction goes on), Abort; and read transactions
// opened before later commits, read by another goroutine while the writer
// commits (run with -race).
func TestFirstLastModel(t *testing.T) {
	db, err := NewMemDB(rootSchema())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	committed := rootModel{}
	type view struct {
		txn *Txn
		m   rootModel
	}
	var views []view
	var wg sync.WaitGroup
	defer wg.Wait()
	for round := 0; round < 150; round++ {
		// A read transaction on this version, read concurrently with the
		// writes and commit below, and again at the end.
		read := db.Txn(false)
		views = append(views, view{read, committed})
		wg.Add(1)
		go func(txn *Txn, m rootModel, seed int64) {
			defer wg.Done()
			checkRoot(t, "concurrent read", rand.New(rand.NewSource(seed)), txn, m)
		}(read, committed, int64(round))

		txn := db.Txn(true)
		if rng.Intn(2) == 0 {
			txn.TrackChanges()
		}
		m := committed.clone()
		for op := 0; op < 25; op++ {
			id := fmt.Sprint(rng.Intn(60))
			switch rng.Intn(8) {
			case 0, 1, 2, 3:
				o := &rootObj{ID: id, Group: fmt.Sprintf("g%d", rng.Intn(12))}
				if err := txn.Insert("t", o); err != nil {
					t.Fatal(err)
				}
				m[id] = o
			case 4:
				if o, ok := m[id]; ok {
					if err := txn.Delete("t", o); err != nil {
						t.Fatal(err)
					}
					delete(m, id)
				}
			case 5:
				if _, err := txn.DeleteAll("t", "id", id); err != nil {
					t.Fatal(err)
				}
				delete(m, id)
			case 6:
				p := id[:1]
				if _, err := txn.DeletePrefix("t", "id_prefix", p); err != nil {
					t.Fatal(err)
				}
				for k := range m {
					if strings.HasPrefix(k, p) {
						delete(m, k)
					}
				}
			case 7:
				views = append(views, view{txn.Snapshot(), m.clone()})
			}
			checkRoot(t, fmt.Sprintf("round %d op %d", round, op), rng, txn, m)
			if t.Failed() {
				t.FailNow()
			}
		}
		if rng.Intn(5) == 0 {
			txn.Abort()
		} else {
			txn.Commit()
			committed = m
		}
		checkRoot(t, fmt.Sprintf("round %d committed", round), rng, db.Txn(false), committed)
	}
	wg.Wait()
	for i, v := range views {
		checkRoot(t, fmt.Sprintf("view %d", i), rng, v.txn, v.m)
	}
}
