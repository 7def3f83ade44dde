package iradix

import (
	"runtime"
	"testing"
	"unsafe"
)

// These test what a small transaction allocates in this copy: its
// writable nodes and mutation channels in one small array each, made at its
// first write, and room in a copied node for the edge an insert adds
// (buildmaster: see third_party/README.md).

// smallTxnCost returns the allocations and bytes of one tracked
// transaction that adds a key to a tree of 300 keys and updates another, as
// the master's writes do to an index (go-memdb tracks mutations on its
// primary database).
func smallTxnCost(t *testing.T) (allocs, bytes float64) {
	base := New().Txn()
	for i := 0; i < 300; i++ {
		base.Insert(freshKey(i*2), i)
	}
	tree := base.Commit()
	i := 0
	run := func() {
		txn := tree.Txn()
		txn.TrackMutate(true)
		txn.Insert(freshKey(i%300*2+1), i)
		txn.Insert(freshKey(i%300*2), i)
		txn.Commit()
		i++
	}
	allocs = testing.AllocsPerRun(100, run)
	const n = 1000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for j := 0; j < n; j++ {
		run()
	}
	runtime.ReadMemStats(&after)
	return allocs, float64(after.TotalAlloc-before.TotalAlloc) / n
}

// TestSmallTxnCost: such a transaction takes at most 17 allocations and
// 3,000 bytes (with a map each for its writable nodes and channels, and
// the edges copied twice when one is added: 21 and 7,450).
func TestSmallTxnCost(t *testing.T) {
	allocs, bytes := smallTxnCost(t)
	if allocs > 17 || bytes > 3000 {
		t.Errorf("a small transaction made %.0f allocations of %.0f bytes, want at most 17 and 3,000", allocs, bytes)
	}
}

// TestTxnIsSmall: a transaction, which go-memdb begins on an index for
// every read too, stays a small object; what only writes need is in
// txnSmall, made at the first write.
func TestTxnIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(Txn{}); n > 96 {
		t.Errorf("a Txn is %d bytes, want at most 96", n)
	}
}
