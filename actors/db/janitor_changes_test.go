package db_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The janitor archives the changes older than ArchiveAfter but the newest
// ChangesKept, oldest first, in whole segments of ChangeArchiveBatch; they
// read as before, and a second run archives nothing more; a changes
// horizon then removes archived changes as it does the others.
func TestJanitorArchivesChanges(t *testing.T) {
	m := mastertest.Start(t, "", t.TempDir(), nil)
	now := time.Now().Unix()
	// ChangesKept + ChangeArchiveBatch + 150 old changes, then 50 recent:
	// 1,200 may go by count and age, of which one whole segment does.
	old, recent := db.ChangesKept+db.ChangeArchiveBatch+150, 50
	var last *state.Future
	for i := range old + recent {
		when := int64(100 + i)
		if i >= old {
			when = now
		}
		last = m.RT.DB.Submit(messages.NewCommand(&messages.AddChange{Change: &messages.Change{
			Author: fmt.Sprintf("a%d", i), Branch: []string{"main", "dev"}[i%2], Revision: fmt.Sprint(i), WhenTimestamp: when}}))
	}
	if _, err := last.Wait(); err != nil {
		t.Fatal(err)
	}
	before := map[uint64]string{}
	for _, id := range []uint64{1, 2, 500, 999, 1000, 1001, 2200} {
		before[id] = prototext.Format(state.Lookup(m.RT.DB.Read(), state.TableChanges, id))
	}
	res, err := cleanup(m, mastertest.Token)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetArchivedChanges() != db.ChangeArchiveBatch {
		t.Errorf("cleanup archived %d changes, want %d", res.GetArchivedChanges(), db.ChangeArchiveBatch)
	}
	txn := m.RT.DB.Read()
	if raw, err := txn.First(state.TableChanges, state.IndexID+"_prefix"); err != nil || raw.(*messages.Change).Changeid != db.ChangeArchiveBatch+1 {
		t.Errorf("oldest change left in the table: %v, %v; want %d", raw, err, db.ChangeArchiveBatch+1)
	}
	if first, _ := state.First(txn, state.TableChanges, state.IndexID+"_prefix").(*messages.Change); first.GetChangeid() != 1 {
		t.Errorf("First reads change %d, want the archived change 1", first.GetChangeid())
	}
	if n := state.Count(txn, state.TableChanges); n != old+recent {
		t.Errorf("Count %d, want %d", n, old+recent)
	}
	for id, want := range before {
		if got := prototext.Format(state.Lookup(txn, state.TableChanges, id)); got != want {
			t.Errorf("change %d reads %s, want %s", id, got, want)
		}
	}
	if err := state.CheckArchive(txn); err != nil {
		t.Error(err)
	}
	if res, err := cleanup(m, mastertest.Token); err != nil || res.GetArchivedChanges() != 0 {
		t.Errorf("second cleanup: %v, %v; want nothing more archived", res, err)
	}

	// A changes horizon removes the oldest, archived or not: here the 700
	// oldest, all archived.
	keep := old + recent - 700
	mastertest.Reconfig(t, m, fmt.Sprintf("horizons: {changes: %d}", keep))
	res, err = cleanup(m, mastertest.Token)
	if err != nil || res.GetChanges() != 700 {
		t.Fatalf("cleanup with the horizon: %v, %v; want 700 changes removed", res, err)
	}
	txn = m.RT.DB.Read()
	if n := state.Count(txn, state.TableChanges); n != keep {
		t.Errorf("Count %d after the horizon, want %d", n, keep)
	}
	if c := state.Lookup(txn, state.TableChanges, 700); c != nil {
		t.Errorf("expired, archived change 700 still read: %v", c)
	}
	if got := prototext.Format(state.Lookup(txn, state.TableChanges, 1000)); got != before[1000] {
		t.Errorf("archived change 1000 reads %s, want %s", got, before[1000])
	}
	if first, _ := state.First(txn, state.TableChanges, state.IndexID+"_prefix").(*messages.Change); first.GetChangeid() != 701 {
		t.Errorf("oldest change %d, want 701", first.GetChangeid())
	}
	if err := state.CheckArchive(txn); err != nil {
		t.Error(err)
	}
}
