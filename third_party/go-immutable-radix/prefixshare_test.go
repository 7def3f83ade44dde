package iradix

import (
	"fmt"
	"testing"
)

// TestNodeCopySharesPrefix: a node copied for a write shares its prefix
// with the node it copies (buildmaster: see third_party/README.md), so
// that an update allocates only the nodes on its path and their edges;
// and the old version of the tree still reads its own keys and values.
func TestNodeCopySharesPrefix(t *testing.T) {
	// Keys whose nodes all have prefixes: "build-" and three-digit runs.
	key := func(i int) []byte { return []byte(fmt.Sprintf("build-%03d-step-%03d", i/10, i%10)) }
	txn := New().Txn()
	for i := 0; i < 500; i++ {
		txn.Insert(key(i), i)
	}
	old := txn.Commit()
	// The key is made outside the run: fmt's allocations differ under the
	// race detector, the update's do not.
	k := key(250)
	allocs := testing.AllocsPerRun(100, func() {
		txn := old.Txn()
		txn.Insert(k, -1)
		txn.Commit()
	})
	if allocs > 12 {
		t.Errorf("an update of one key takes %.0f allocations, want at most 12 (16 when a copy copied its prefix)", allocs)
	}
	updated, _, _ := old.Insert(key(250), -1)
	for i := 0; i < 500; i++ {
		if v, ok := old.Get(key(i)); !ok || v != i {
			t.Fatalf("old tree: %s = %v, %v; want %d", key(i), v, ok, i)
		}
		want := i
		if i == 250 {
			want = -1
		}
		if v, ok := updated.Get(key(i)); !ok || v != want {
			t.Fatalf("new tree: %s = %v, %v; want %d", key(i), v, ok, want)
		}
	}
}
