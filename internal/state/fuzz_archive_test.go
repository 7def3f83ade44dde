package state

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
	"github.com/hashicorp/go-memdb"
)

// FuzzBuildsetSegment: whatever a buildset segment holds (decoded from
// arbitrary bytes, as a damaged snapshot's), every read of builds,
// requests and buildsets and CheckArchive never panic,
// CheckArchive fails only with ErrArchiveCorrupt, and passes only
// segments whose every buildset decodes.
func FuzzBuildsetSegment(f *testing.F) {
	db := setHistory(f)
	mustApplyCounted(f, db, archiveSets(1, 2, 4))
	seg := First(db.Txn(false), TableBuildsetArchive, IndexID).(*messages.BuildsetSegment)
	good, _ := proto.Marshal(seg)
	f.Add(good)
	f.Add(good[:len(good)/2])
	short := proto.CloneOf(seg)
	short.BuildNumbers, short.BuildSets = short.BuildNumbers[:1], short.BuildSets[:1]
	b, _ := proto.Marshal(short)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &messages.BuildsetSegment{}
		r := withSegment(t, TableBuildsetArchive, s, data)
		if r == nil {
			return
		}
		err := CheckArchive(r)
		if err != nil && !errors.Is(err, ErrArchiveCorrupt) {
			t.Fatalf("CheckArchive: %v, not ErrArchiveCorrupt", err)
		}
		for _, table := range []string{TableBuilds, TableBuildRequests, TableBuildsets} {
			Count(r, table)
			for desc := range 2 {
				for range Scan(r, table, desc == 1) {
				}
			}
			for range ScanFrom(r, table, 3) {
			}
			for id := range uint64(12) {
				Lookup(r, table, id)
			}
		}
		for id := range uint64(12) {
			for desc := range 2 {
				for _, q := range []struct {
					table, index string
					args         []any
				}{
					{TableBuilds, IndexBuilderNumber + "_prefix", []any{id}},
					{TableBuilds, IndexBuilderNumber, []any{id, int32(id)}},
					{TableBuilds, IndexBuildRequest, []any{id}},
					{TableBuildRequests, IndexBuildset, []any{id}},
					{TableBuilds, IndexBuilderNumber, nil},
					{TableBuildRequests, IndexBuildset, nil},
				} {
					for range ScanIndex(r, q.table, q.index, desc == 1, q.args...) {
					}
				}
			}
			for range BuildsBefore(r, id, 100) {
			}
		}
		if err == nil {
			for i := range s.Buildsetids {
				if _, err := setArchive.decode(s, i); err != nil {
					t.Fatalf("CheckArchive passed a segment whose buildset %d does not decode: %v", i, err)
				}
			}
		}
	})
}

// FuzzChangeSegment: whatever a change segment holds, every read of
// changes and CheckArchive never panic, CheckArchive fails only with
// ErrArchiveCorrupt, and passes only segments whose every change decodes.
func FuzzChangeSegment(f *testing.F) {
	db := changeHistory(f)
	mustApplyCounted(f, db, archiveChanges(seqIDs(1, 12)...))
	seg := First(db.Txn(false), TableChangeArchive, IndexID).(*messages.ChangeSegment)
	good, _ := proto.Marshal(seg)
	f.Add(good)
	f.Add(good[:len(good)/2])
	short := proto.CloneOf(seg)
	short.ChangeBranches = short.ChangeBranches[:2]
	b, _ := proto.Marshal(short)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &messages.ChangeSegment{}
		r := withSegment(t, TableChangeArchive, s, data)
		if r == nil {
			return
		}
		err := CheckArchive(r)
		if err != nil && !errors.Is(err, ErrArchiveCorrupt) {
			t.Fatalf("CheckArchive: %v, not ErrArchiveCorrupt", err)
		}
		Count(r, TableChanges)
		for desc := range 2 {
			for range Scan(r, TableChanges, desc == 1) {
			}
			for _, index := range []string{IndexBranch, IndexChangeSourceStamp} {
				for range ScanIndex(r, TableChanges, index, desc == 1) {
				}
			}
			for id := range uint64(14) {
				for range ScanIndex(r, TableChanges, IndexChangeSourceStamp, desc == 1, id) {
				}
			}
			for _, br := range []string{"main", "dev", ""} {
				for range ScanIndex(r, TableChanges, IndexBranch, desc == 1, br) {
				}
			}
		}
		for id := range uint64(14) {
			Lookup(r, TableChanges, id)
			for range ChangesFrom(r, id) {
			}
		}
		if err == nil {
			for i := range s.Changeids {
				if _, err := changeArchive.decode(s, i); err != nil {
					t.Fatalf("CheckArchive passed a segment whose change %d does not decode: %v", i, err)
				}
			}
		}
	})
}

// withSegment decodes data as a segment of table (into s) and returns a
// read transaction of a database holding it alone; nil when data is not a
// segment or an index refuses it (too wide a span).
func withSegment(t *testing.T, table string, s proto.Message, data []byte) *memdb.Txn {
	t.Helper()
	if proto.Unmarshal(data, s) != nil {
		return nil
	}
	d, err := NewDB()
	if err != nil {
		t.Fatal(err)
	}
	txn := d.Txn(true)
	if txn.Insert(table, s) != nil {
		return nil
	}
	txn.Commit()
	return d.Txn(false)
}
