package state

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// changeHistory: 40 changes at 1000, 1010, … on branches main, dev and ""
// (each a fifth of them, in turn, with the same revision as the change
// before it on its branch: one sourcestamp for both), and a buildset of
// the sourcestamp of change 5.
func changeHistory(t testing.TB) *memdb.MemDB {
	db := newDB(t)
	mustApplyCounted(t, db, masterStarted(0, "m1", 100))
	branches := []string{"main", "dev", "", "main", "dev"}
	for i := range 40 {
		c := change(fmt.Sprintf("a%d", i), branches[i%len(branches)], 1000+int64(10*i))
		if i%5 == 3 {
			c.Revision = fmt.Sprintf("rev-a%d", i-3) // the sourcestamp of change i-2, on main too
		}
		mustApplyCounted(t, db, addChange(c))
	}
	return db
}

func archiveChanges(ids ...uint64) *messages.Command {
	return cmd(&messages.ArchiveChanges{Changeids: ids})
}

// changeReadsOf renders every read of changes the master makes, through
// read.go and ChangesFrom, so that two states can be compared as readers
// see them.
func changeReadsOf(t testing.TB, txn *memdb.Txn) string {
	t.Helper()
	var b strings.Builder
	row := func(m proto.Message) {
		if c, ok := m.(*messages.Change); ok && c != nil {
			fmt.Fprintf(&b, "  %d %s ss%d %v\n", c.Changeid, c.Branch, c.Sourcestampid, c.ParentChangeids)
			return
		}
		b.WriteString("  nil\n")
	}
	seq := func(what string, rows func(func(proto.Message) bool)) {
		b.WriteString(what + ":\n")
		for m := range rows {
			row(m)
		}
	}
	fmt.Fprintf(&b, "count %d\n", Count(txn, TableChanges))
	for _, desc := range []bool{false, true} {
		seq(fmt.Sprintf("scan desc=%v", desc), Scan(txn, TableChanges, desc))
		for _, ix := range []string{IndexBranch, IndexChangeSourceStamp, IndexID + "_prefix"} {
			seq(fmt.Sprintf("scan %s desc=%v", ix, desc), ScanIndex(txn, TableChanges, ix, desc))
		}
		for _, br := range []string{"main", "dev", "", "nope"} {
			seq(fmt.Sprintf("branch %q desc=%v", br, desc), ScanIndex(txn, TableChanges, IndexBranch, desc, br))
		}
		for ss := range uint64(45) {
			seq(fmt.Sprintf("sourcestamp %d desc=%v", ss, desc), ScanIndex(txn, TableChanges, IndexChangeSourceStamp, desc, ss))
		}
	}
	// The first pages as the data API reads them: limit 5, newest first.
	b.WriteString("newest 5:\n")
	for m := range Scan(txn, TableChanges, true) {
		if row(m); strings.Count(b.String()[strings.LastIndex(b.String(), "newest 5:"):], "\n") > 5 {
			break
		}
	}
	for id := range uint64(45) {
		fmt.Fprintf(&b, "lookup %d:\n", id)
		row(Lookup(txn, TableChanges, id))
		fmt.Fprintf(&b, "first of sourcestamp %d:\n", id)
		row(First(txn, TableChanges, IndexChangeSourceStamp, id))
		b.WriteString("from:\n")
		for c := range ChangesFrom(txn, id) {
			row(c)
		}
		b.WriteString("properties:\n")
		for p := range ChangeProperties(txn, []uint64{id}) {
			fmt.Fprintf(&b, "  %s=%s\n", p.Name, p.ValueJson)
		}
	}
	for _, br := range []string{"main", "dev", ""} {
		fmt.Fprintf(&b, "first of branch %q:\n", br)
		row(First(txn, TableChanges, IndexBranch, br))
	}
	return b.String()
}

// Archived changes leave the changes table and read as before through
// every read, whichever changes and in whichever order they were archived;
// what comes after (new changes, whose parents and ids follow the archived
// ones; Expire of changes and sourcestamps; a snapshot round trip) reads
// the same as on a state never archived.
func TestArchiveChangesReadsAsBefore(t *testing.T) {
	for _, c := range []struct {
		name  string
		batch [][]uint64
	}{
		{"oldest", [][]uint64{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}},
		{"all", [][]uint64{seqIDs(1, 40)}},
		{"interleaved", [][]uint64{{40, 2, 4, 6, 8, 10, 99, 2}, {1, 3, 5, 7, 39, 38}, {20}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			plain, arch := changeHistory(t), changeHistory(t)
			want := changeReadsOf(t, plain.Txn(false))
			archived := 0
			for i, ids := range c.batch {
				res := mustApplyCounted(t, arch, archiveChanges(ids...))
				if res.Id != uint64(i+1) {
					t.Errorf("segment %d, want %d", res.Id, i+1)
				}
				archived += len(res.Ids)
			}
			txn := arch.Txn(false)
			if n := rowsIn(txn, TableChanges); n != 40-archived {
				t.Errorf("%d rows left in changes, want %d", n, 40-archived)
			}
			if err := CheckArchive(txn); err != nil {
				t.Fatal(err)
			}
			if got := changeReadsOf(t, txn); got != want {
				t.Fatalf("reads after archiving differ:\n%s", diffLines(want, got))
			}
			checkCounts(t, "archived", txn)
			restored := roundTrip(t, arch)
			if got := changeReadsOf(t, restored.Txn(false)); got != want {
				t.Fatalf("reads after a snapshot round trip differ:\n%s", diffLines(want, got))
			}
			checkCounts(t, "archived, restored", restored.Txn(false))

			for _, k := range []*messages.Command{
				addChange(change("late", "main", 5000)), // parent: the newest of main, maybe archived
				addChange(change("late2", "dev", 5001)),
				cmd(&messages.Expire{Changes: []uint64{1, 2, 3, 11, 40}}),
				cmd(&messages.Expire{Sourcestamps: []uint64{2, 3}}),
				addChange(change("after", "", 5002)),
			} {
				wantRes, err := applyCounted(t, plain, k)
				if err != nil {
					t.Fatalf("%v on the plain state: %v", k, err)
				}
				gotRes, err := applyCounted(t, arch, k)
				if err != nil {
					t.Fatalf("%v on the archived state: %v", k, err)
				}
				if !proto.Equal(wantRes, gotRes) {
					t.Errorf("%v: result %v, want %v", k, gotRes, wantRes)
				}
				if got, want := changeReadsOf(t, arch.Txn(false)), changeReadsOf(t, plain.Txn(false)); got != want {
					t.Fatalf("after %v, reads differ:\n%s", k, diffLines(want, got))
				}
			}
			// A sourcestamp of an archived change stays.
			if _, err := applyCounted(t, arch, cmd(&messages.Expire{Sourcestamps: []uint64{5}})); err == nil || !strings.Contains(err.Error(), "sourcestamp 5 is a change's") {
				t.Errorf("expire of an archived change's sourcestamp: %v", err)
			}
			checkCounts(t, "archived, written", arch.Txn(false))
			if err := CheckArchive(arch.Txn(false)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func seqIDs(from, to uint64) []uint64 {
	var out []uint64
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

// Expire of archived changes writes their segments again without them and
// removes a segment left empty; the ids of expired, archived changes are
// not given again, even when the newest change was archived and expired.
func TestArchiveChangesExpire(t *testing.T) {
	db := changeHistory(t)
	mustApplyCounted(t, db, archiveChanges(1, 2, 3))
	mustApplyCounted(t, db, archiveChanges(seqIDs(4, 40)...))
	mustApplyCounted(t, db, cmd(&messages.Expire{Changes: []uint64{1, 2, 3, 4, 40}}))
	var segs []string
	for raw := range Scan(db.Txn(false), TableChangeArchive, false) {
		s := raw.(*messages.ChangeSegment)
		segs = append(segs, fmt.Sprintf("%d:%d…%d(%d)", s.Id, s.Changeids[0], s.Changeids[len(s.Changeids)-1], len(s.Changeids)))
	}
	if got := strings.Join(segs, " "); got != "2:5…39(35)" {
		t.Errorf("segments %s, want 2:5…39(35)", got)
	}
	if c := Lookup(db.Txn(false), TableChanges, 40); c != nil {
		t.Errorf("expired change 40 still read: %v", c)
	}
	if n := Count(db.Txn(false), TableChanges); n != 35 {
		t.Errorf("Count %d, want 35", n)
	}
	if res := mustApplyCounted(t, db, addChange(change("next", "x", 9000))); res.Id != 41 {
		t.Errorf("next changeid %d, want 41", res.Id)
	}
	if res := mustApplyCounted(t, db, archiveChanges(41)); res.Id != 3 {
		t.Errorf("next segment %d, want 3", res.Id)
	}
	checkCounts(t, "expired", db.Txn(false))
}

// ArchiveChanges refuses bad ids and changes nothing; archiving changes
// archived or gone already changes nothing.
func TestArchiveChangesRefuses(t *testing.T) {
	db := changeHistory(t)
	mustApplyCounted(t, db, archiveChanges(1, 2))
	before := dump(t, db)
	if _, err := applyCounted(t, db, archiveChanges(make([]uint64, MaxIDs+1)...)); err == nil || !errors.Is(err, ErrBadCommand) {
		t.Errorf("too many ids: %v", err)
	}
	if res := mustApplyCounted(t, db, archiveChanges(1, 2, 77)); res.Id != 0 || len(res.Ids) != 0 {
		t.Errorf("archived again: %v", res)
	}
	if dump(t, db) != before {
		t.Error("a refused or empty ArchiveChanges changed the state")
	}
}

// ChangesToArchive gives the changes older than before but the newest
// keep, oldest first, and stops at the first one too recent.
func TestChangesToArchive(t *testing.T) {
	db := changeHistory(t) // changes 1…40 at 1000, 1010, …, 1390
	mustApplyCounted(t, db, archiveChanges(1, 2))
	for _, c := range []struct {
		before int64
		keep   int
		want   []uint64
	}{
		{1050, 0, []uint64{3, 4, 5}},
		{5000, 30, seqIDs(3, 10)},
		{5000, 38, nil},
		{1000, 0, nil},
	} {
		if got := ChangesToArchive(db.Txn(false), c.before, c.keep); !slices.Equal(got, c.want) {
			t.Errorf("ChangesToArchive(%d, %d) = %v, want %v", c.before, c.keep, got, c.want)
		}
	}
}

// A damaged change segment is reported by CheckArchive and read as missing
// rows, never a crash.
func TestArchiveChangesCorrupt(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(s *messages.ChangeSegment)
	}{
		{"data cut", func(s *messages.ChangeSegment) { s.Data = s.Data[:len(s.Data)/2] }},
		{"ends missing", func(s *messages.ChangeSegment) { s.Ends = s.Ends[:1] }},
		{"branches out of range", func(s *messages.ChangeSegment) { s.ChangeBranches[0] = 1000 }},
		{"lines out of range", func(s *messages.ChangeSegment) { s.ChangeLines[0] = 1000 }},
		{"lines missing", func(s *messages.ChangeSegment) { s.ChangeLines = s.ChangeLines[:1] }},
		{"sourcestamps missing", func(s *messages.ChangeSegment) { s.Sourcestampids = nil }},
		{"wrong change", func(s *messages.ChangeSegment) { s.Changeids[0] = 42 }},
		{"out of order", func(s *messages.ChangeSegment) { s.Changeids[0], s.Changeids[1] = s.Changeids[1], s.Changeids[0] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := changeHistory(t)
			mustApplyCounted(t, d, archiveChanges(1, 2, 3))
			bad := proto.CloneOf(First(d.Txn(false), TableChangeArchive, IndexID, uint64(1)).(*messages.ChangeSegment))
			c.edit(bad)
			txn := d.Txn(true)
			if err := txn.Insert(TableChangeArchive, bad); err != nil {
				t.Fatal(err)
			}
			txn.Commit()
			r := d.Txn(false)
			if err := CheckArchive(r); !errors.Is(err, ErrArchiveCorrupt) || !strings.Contains(err.Error(), "change segment 1") {
				t.Errorf("CheckArchive: %v", err)
			}
			_ = changeReadsOf(t, r) // must not panic
		})
	}
}

// The parent of a new change is the newest change of its branch and line
// (repository, project, codebase), whether archived in segments with lines,
// in segments written before lines (decoded), or in the table; and the
// walk decodes nothing of a segment holding none of the line's changes.
func TestArchiveChangesParent(t *testing.T) {
	history := func() *memdb.MemDB {
		db := newDB(t)
		for i := range 300 {
			c := change(fmt.Sprintf("a%d", i), "main", 1000+int64(i))
			c.Repository = fmt.Sprintf("git://r%d", i%3)
			mustApplyCounted(t, db, addChange(c))
		}
		return db
	}
	plain, arch, old := history(), history(), history()
	for _, db := range []*memdb.MemDB{arch, old} {
		mustApplyCounted(t, db, archiveChanges(seqIDs(1, 100)...))
		mustApplyCounted(t, db, archiveChanges(seqIDs(101, 200)...))
	}
	// Segments as written before lines.
	txn := old.Txn(true)
	for raw := range Scan(txn, TableChangeArchive, false) {
		s := proto.CloneOf(raw.(*messages.ChangeSegment))
		s.Lines, s.ChangeLines = nil, nil
		if err := txn.Insert(TableChangeArchive, s); err != nil {
			t.Fatal(err)
		}
	}
	txn.Commit()
	for _, db := range []*memdb.MemDB{arch, old} {
		if err := CheckArchive(db.Txn(false)); err != nil {
			t.Fatal(err)
		}
	}
	// Each on a fresh state: the parent is found by the walk, not
	// remembered from the change before.
	for _, repo := range []string{"git://r0", "git://r1", "git://r2", "git://new"} {
		for _, expire := range []bool{false, true} {
			c := change("late", "main", 5000)
			c.Repository = repo
			var want []uint64
			for i, db := range []*memdb.MemDB{plain, arch, old} {
				txn := db.Txn(true)
				if expire { // the table's changes gone: the parent is archived
					if _, err := Apply(txn, cmd(&messages.Expire{Changes: seqIDs(201, 300)})); err != nil {
						t.Fatal(err)
					}
				}
				res, err := Apply(txn, addChange(proto.CloneOf(c)))
				if err != nil {
					t.Fatal(err)
				}
				got := Lookup(txn, TableChanges, res.Id).(*messages.Change).ParentChangeids
				txn.Abort()
				if i == 0 {
					want = got
				} else if !slices.Equal(got, want) {
					t.Errorf("%s (expired %v), state %d: parents %v, want %v", repo, expire, i, got, want)
				}
			}
			if repo != "git://new" && len(want) != 1 {
				t.Errorf("%s: no parent", repo)
			}
		}
	}
	// A new line on main: no archived change decoded (the segments hold 100
	// changes each).
	txn = arch.Txn(false)
	c := change("late", "main", 5000)
	c.Repository = "git://new"
	if n := testing.AllocsPerRun(10, func() { changeParent(txn, c) }); n > 100 {
		t.Errorf("parent walk of a new line: %v allocations, want ≤ 100 (no change decoded; one decode is several)", n)
	}
}

// damageEntry makes entry i of a segment's data undecodable.
func damageEntry(data []byte, ends []uint32, i int) {
	start := uint32(0)
	if i > 0 {
		start = ends[i-1]
	}
	for k := start; k < ends[i]; k++ {
		data[k] = 0xff
	}
}

// Expire of archived changes in a segment with a damaged change applies:
// the damaged change, unread already, is dropped with the expired ones,
// the rest kept.
func TestArchiveChangesExpireDamaged(t *testing.T) {
	db := changeHistory(t)
	mustApplyCounted(t, db, archiveChanges(seqIDs(1, 10)...))
	txn := db.Txn(true)
	s := proto.CloneOf(First(txn, TableChangeArchive, IndexID, uint64(1)).(*messages.ChangeSegment))
	damageEntry(s.Data, s.Ends, 1) // change 2
	if err := txn.Insert(TableChangeArchive, s); err != nil {
		t.Fatal(err)
	}
	txn.Commit()
	if _, err := applyCounted(t, db, cmd(&messages.Expire{Changes: []uint64{5, 20}})); err != nil {
		t.Fatalf("expire beside a damaged change: %v", err)
	}
	r := db.Txn(false)
	for id := range uint64(41) {
		want := id != 0 && id != 2 && id != 5 && id != 20
		if got := Lookup(r, TableChanges, id) != nil; got != want {
			t.Errorf("change %d read %v, want %v", id, got, want)
		}
	}
	if err := CheckArchive(r); err != nil {
		t.Error(err)
	}
	checkCounts(t, "expired beside damage", r)
}
