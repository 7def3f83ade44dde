package state

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"
)

// TestMemdbWatchProperty checks go-memdb over this project's copy of
// go-immutable-radix (third_party/) against a map across many random write
// transactions: every snapshot keeps its rows, a watch on a row fires when
// that row is written and not otherwise, and a watch on a prefix fires
// when a row under it is written.
func TestMemdbWatchProperty(t *testing.T) {
	type row struct {
		ID  string
		Val int
	}
	schema := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		"t": {Name: "t", Indexes: map[string]*memdb.IndexSchema{
			"id":  {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			"val": {Name: "val", Indexer: &memdb.IntFieldIndex{Field: "Val"}},
		}},
	}}
	key := func(r *rand.Rand) string {
		var b strings.Builder
		for i := 0; i < 1+r.Intn(5); i++ {
			b.WriteByte("abc"[r.Intn(3)])
		}
		return b.String()
	}
	for seed := int64(0); seed < 10; seed++ {
		r := rand.New(rand.NewSource(seed))
		db, err := memdb.NewMemDB(schema)
		if err != nil {
			t.Fatal(err)
		}
		model := map[string]int{}
		type snap struct {
			txn *memdb.Txn
			m   map[string]int
		}
		var snaps []snap
		val := 0
		for round := 0; round < 200; round++ {
			read := db.Txn(false)
			rowWatch := map[string]memdb.WatchSet{}
			for k := range model {
				ws := memdb.NewWatchSet()
				ch, _, err := read.FirstWatch("t", "id", k)
				if err != nil {
					t.Fatal(err)
				}
				ws.Add(ch)
				rowWatch[k] = ws
			}
			prefixWatch := map[string]memdb.WatchSet{}
			for i := 0; i < 4; i++ {
				p := key(r)
				it, err := read.Get("t", "id_prefix", p)
				if err != nil {
					t.Fatal(err)
				}
				ws := memdb.NewWatchSet()
				ws.Add(it.WatchCh())
				prefixWatch[p] = ws
			}

			txn := db.Txn(true)
			touched := map[string]bool{}
			for i := 0; i < 1+r.Intn(20); i++ {
				k := key(r)
				val++
				if r.Intn(3) == 0 {
					if _, ok := model[k]; ok {
						if err := txn.Delete("t", &row{ID: k}); err != nil {
							t.Fatal(err)
						}
						delete(model, k)
						touched[k] = true
					}
					continue
				}
				if err := txn.Insert("t", &row{ID: k, Val: val}); err != nil {
					t.Fatal(err)
				}
				model[k] = val
				touched[k] = true
				if r.Intn(8) == 0 {
					m := make(map[string]int, len(model))
					for k, v := range model {
						m[k] = v
					}
					snaps = append(snaps, snap{txn.Snapshot(), m})
				}
			}
			txn.Commit()

			for k, ws := range rowWatch {
				f := fired(ws)
				if touched[k] != f {
					t.Fatalf("seed %d round %d: row %q written %v, its watch fired %v", seed, round, k, touched[k], f)
				}
			}
			for p, ws := range prefixWatch {
				changed := false
				for k := range touched {
					changed = changed || strings.HasPrefix(k, p)
				}
				if changed && !fired(ws) {
					t.Fatalf("seed %d round %d: prefix %q written, its watch did not fire", seed, round, p)
				}
			}
			m := make(map[string]int, len(model))
			for k, v := range model {
				m[k] = v
			}
			snaps = append(snaps, snap{db.Txn(false), m})
		}
		for i, s := range snaps {
			it, err := s.txn.Get("t", "id")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for o := it.Next(); o != nil; o = it.Next() {
				rw := o.(*row)
				if v, ok := s.m[rw.ID]; !ok || v != rw.Val {
					t.Fatalf("seed %d snapshot %d: row %q = %d, want %d (present %v)", seed, i, rw.ID, rw.Val, v, ok)
				}
				n++
			}
			if n != len(s.m) {
				t.Fatalf("seed %d snapshot %d: %d rows, want %d", seed, i, n, len(s.m))
			}
			for k, v := range s.m {
				o, err := s.txn.First("t", "val", v)
				if err != nil || o == nil || o.(*row).ID != k {
					t.Fatalf("seed %d snapshot %d: val index %d = %v %v, want row %q", seed, i, v, o, err, k)
				}
			}
		}
	}
}

// fired says whether any channel of ws is closed.
func fired(ws memdb.WatchSet) bool {
	for ch := range ws {
		select {
		case <-ch:
			return true
		default:
		}
	}
	return false
}
