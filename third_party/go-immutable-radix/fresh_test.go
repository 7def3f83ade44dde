package iradix

import (
	"encoding/binary"
	"testing"
)

// These test the fresh transaction of this copy (buildmaster: see
// third_party/README.md).

func freshKey(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }

// TestFreshTxnWritesInPlace: a transaction on an empty tree writes the nodes
// it made in place, without remembering them in its writable cache.
func TestFreshTxnWritesInPlace(t *testing.T) {
	txn := New().Txn()
	for i := 0; i < 20_000; i++ {
		txn.Insert(freshKey(i*7919%20_000), i)
	}
	if txn.writableLen() > 1 {
		t.Errorf("writable cache holds %d nodes; want at most the empty root's copy", txn.writableLen())
	}
	if tree := txn.Commit(); tree.Len() != 20_000 {
		t.Fatalf("Len = %d, want 20000", tree.Len())
	}
}

// TestFreshTxnCommitAndClone: once a fresh transaction is committed or
// cloned, its writes no longer change the trees others hold.
func TestFreshTxnCommitAndClone(t *testing.T) {
	for _, c := range []struct {
		name  string
		split func(txn *Txn) (held func() *Tree)
	}{
		{"commit", func(txn *Txn) func() *Tree {
			tree := txn.CommitOnly()
			return func() *Tree { return tree }
		}},
		{"clone", func(txn *Txn) func() *Tree {
			clone := txn.Clone()
			return func() *Tree { return clone.Commit() }
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			txn := New().Txn()
			for i := 0; i < 1000; i++ {
				txn.Insert(freshKey(i), i)
			}
			held := c.split(txn)
			for i := 0; i < 2000; i++ {
				txn.Insert(freshKey(i), -i) // updates the first 1000, adds 1000
			}
			txn.Delete(freshKey(3))
			tree := held()
			if tree.Len() != 1000 {
				t.Fatalf("held tree has %d keys, want 1000", tree.Len())
			}
			for i := 0; i < 1000; i++ {
				if v, ok := tree.Get(freshKey(i)); !ok || v != i {
					t.Fatalf("held tree: key %d = %v, %v; want %d", i, v, ok, i)
				}
			}
			if _, ok := tree.Get(freshKey(1500)); ok {
				t.Fatal("held tree has a key inserted after it was split off")
			}
			if v, _ := txn.Get(freshKey(10)); v != -10 {
				t.Fatalf("transaction: key 10 = %v, want -10", v)
			}
		})
	}
}

// TestFreshTxnLeafWatch: a leaf replaced in a fresh transaction closes the
// channel a reader took from it.
func TestFreshTxnLeafWatch(t *testing.T) {
	txn := New().Txn()
	txn.TrackMutate(true)
	for i := 0; i < 100; i++ {
		txn.Insert(freshKey(i), i)
	}
	ch, _, _ := txn.GetWatch(freshKey(42))
	txn.Insert(freshKey(42), "new")
	txn.Commit()
	select {
	case <-ch:
	default:
		t.Fatal("the replaced leaf's channel is still open")
	}
}
