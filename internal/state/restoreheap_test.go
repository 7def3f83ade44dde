package state

import (
	"bytes"
	"testing"
)

// TestRestoreHeapSame: a restore told its snapshot is large enough for
// prepareRestoreHeap to advise and prefault the heap restores the same
// database as one told nothing: every index of every table lists the same
// records, the counts agree, and its snapshot is byte for byte the same.
func TestRestoreHeapSame(t *testing.T) {
	var snap bytes.Buffer
	if err := WriteSnapshot(&snap, everyIndexDB(t).Txn(false)); err != nil {
		t.Fatal(err)
	}
	plain, err := ReadSnapshot(bytes.NewReader(snap.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	size := int64(2*hugeAdviseMin/restoreHeapPerSnapshotByte) + int64(snap.Len())
	prepared, err := readSnapshot(bytes.NewReader(snap.Bytes()), size, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameIndexes(t, plain.Txn(false), prepared.Txn(false))
	checkCounts(t, "prepared", prepared.Txn(false))
	var again bytes.Buffer
	if err := WriteSnapshot(&again, prepared.Txn(false)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), snap.Bytes()) {
		t.Errorf("the snapshot of the database restored on a prepared heap differs from the one it was restored from")
	}
}
