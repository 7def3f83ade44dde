package iradix

import "testing"

// TestDeletePrefixAfterWrite: DeletePrefix of a subtree the transaction
// has already written (so that its top node is written in place) counts
// and fires the keys it deletes (buildmaster: see third_party/README.md).
func TestDeletePrefixAfterWrite(t *testing.T) {
	tree := New()
	for _, k := range []string{"aa", "ac", "b"} {
		tree, _, _ = tree.Insert([]byte(k), k)
	}
	watches := map[string]<-chan struct{}{}
	for _, k := range []string{"aa", "ac", "b"} {
		watches[k], _, _ = tree.Root().GetWatch([]byte(k))
	}
	txn := tree.Txn()
	txn.TrackMutate(true)
	txn.Insert([]byte("ab"), "ab")
	txn.DeletePrefix([]byte("a"))
	after := txn.Commit()
	if after.Len() != 1 {
		t.Errorf("Len = %d after deleting all but b, want 1", after.Len())
	}
	for k, ch := range watches {
		select {
		case <-ch:
			if k == "b" {
				t.Errorf("watch of b fired; it was not deleted")
			}
		default:
			if k != "b" {
				t.Errorf("watch of %s did not fire; it was deleted", k)
			}
		}
	}
}
