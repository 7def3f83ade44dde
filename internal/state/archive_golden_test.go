package state

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// archivesDB is a database with segments in each archive: history's
// finished builds, their steps and logs archived in two segments (one
// edited by Expire), their buildsets in two (one moved back by
// Expire), and its changes in two (one edited by Expire).
func archivesDB(t *testing.T) *memdb.MemDB {
	t.Helper()
	f := &fsm{}
	f.db.Store(newDB(t))
	history(t, f, 300, 250)
	db := f.db.Load()
	apply := func(c *messages.Command) *messages.CommandResult {
		txn := writeTxn(db)
		res, err := Apply(txn, c)
		if err != nil {
			t.Fatal(err)
		}
		Recount(txn)
		txn.Commit()
		return res
	}
	apply(cmd(&messages.Archive{Buildids: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}))
	apply(cmd(&messages.Archive{Buildids: ToArchive(db.Txn(false), math.MaxInt64)}))
	sets := ToArchiveBuildsets(db.Txn(false), math.MaxInt64)
	apply(cmd(&messages.ArchiveBuildsets{Buildsetids: sets[:len(sets)/2]}))
	apply(cmd(&messages.ArchiveBuildsets{Buildsetids: ToArchiveBuildsets(db.Txn(false), math.MaxInt64)}))
	var changes []uint64
	for id := range uint64(200) {
		changes = append(changes, id+1)
	}
	apply(cmd(&messages.ArchiveChanges{Changeids: changes[:100]}))
	apply(cmd(&messages.ArchiveChanges{Changeids: changes[100:]}))
	apply(cmd(&messages.Expire{Builds: []uint64{2}, Changes: []uint64{3}, LogContents: []uint64{9}}))
	for _, table := range []string{TableArchive, TableBuildsetArchive, TableChangeArchive} {
		if n := len(indexRows(t, db.Txn(false), table, IndexID)); n < 2 {
			t.Fatalf("%s: %d segments, want 2 or more", table, n)
		}
	}
	return db
}

// TestArchivesSnapshotGolden holds the archives' encoding:
// testdata/archives.bin is the snapshot of archivesDB written by the code
// before the three archives shared one segment type (commit 97bd496). It
// must be what archivesDB writes today, byte for byte (segments encode as
// they always have), and restore with its counts and every segment
// decoding. -update writes the snapshot only when it is missing.
func TestArchivesSnapshotGolden(t *testing.T) {
	bin := filepath.Join("testdata", "archives.bin")
	var snap bytes.Buffer
	if err := WriteSnapshot(&snap, archivesDB(t).Txn(false)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); os.IsNotExist(err) && testkit.Update() {
		if err := os.WriteFile(bin, snap.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), data) {
		t.Errorf("the snapshot of archivesDB (%d bytes) differs from %s (%d bytes)", snap.Len(), bin, len(data))
	}
	db, err := ReadSnapshot(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "archives", db.Txn(false))
	if err := CheckArchive(db.Txn(false)); err != nil {
		t.Fatal(err)
	}
}
