package iradix

import "testing"

// These test the writable set of this copy, an array and a map in place of upstream's
// LRU (buildmaster: see third_party/README.md).

// TestWritableSetBounded: a transaction on a tree with keys that writes
// more nodes than defaultModifiedCache keeps at most that many in its
// writable set, reuses the nodes it made while they are in it, and leaves
// the tree it started from as it was.
func TestWritableSetBounded(t *testing.T) {
	base := New().Txn()
	for i := 0; i < 30_000; i++ {
		base.Insert(freshKey(i), i)
	}
	tree := base.Commit()

	txn := tree.Txn()
	txn.Insert(freshKey(1), -1)
	n := txn.writableLen()
	txn.Insert(freshKey(1), -2) // the same path: its nodes are written in place
	if txn.writableLen() != n {
		t.Errorf("writing a key again grew the writable set from %d to %d nodes", n, txn.writableLen())
	}
	for i := 0; i < 30_000; i++ {
		txn.Insert(freshKey(i), -i)
		if txn.writableLen() > defaultModifiedCache {
			t.Fatalf("writable set holds %d nodes, more than %d", txn.writableLen(), defaultModifiedCache)
		}
	}
	after := txn.Commit()
	if txn.writableLen() != 0 {
		t.Errorf("writable set kept after commit")
	}
	for i := 0; i < 30_000; i++ {
		if v, _ := tree.Get(freshKey(i)); v != i {
			t.Fatalf("tree before: key %d = %v, want %d", i, v, i)
		}
		if v, _ := after.Get(freshKey(i)); v != -i {
			t.Fatalf("tree after: key %d = %v, want %d", i, v, -i)
		}
	}
}

// BenchmarkSmallTxn: a transaction that updates 3 keys of a tree of 10,000,
// as most of the master's writes do to each index.
func BenchmarkSmallTxn(b *testing.B) {
	txn := New().Txn()
	for i := 0; i < 10_000; i++ {
		txn.Insert(freshKey(i), i)
	}
	tree := txn.Commit()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		txn := tree.Txn()
		for k := 0; k < 3; k++ {
			txn.Insert(freshKey((i*3+k)%10_000), i)
		}
		tree = txn.Commit()
	}
}

// writableLen is the size of the writable set.
func (t *Txn) writableLen() int {
	if t.small == nil {
		return len(t.writable)
	}
	return t.small.n + len(t.writable)
}
