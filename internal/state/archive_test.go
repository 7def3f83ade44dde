package state

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// applyCounted applies c as a Store does, keeping the row counts.
func applyCounted(t testing.TB, db *memdb.MemDB, c *messages.Command) (*messages.CommandResult, error) {
	t.Helper()
	txn := db.Txn(true)
	txn.TrackChanges()
	res, err := Apply(txn, c)
	if err != nil {
		txn.Abort()
		return nil, err
	}
	Recount(txn)
	txn.Commit()
	return res, nil
}

func mustApplyCounted(t testing.TB, db *memdb.MemDB, c *messages.Command) *messages.CommandResult {
	t.Helper()
	res, err := applyCounted(t, db, c)
	if err != nil {
		t.Fatalf("apply %v: %v", c, err)
	}
	return res
}

// archiveHistory: builder 1 and 2; builds 1…6, two at a time so that their
// steps and logs interleave, each with three steps (the last two with a
// log each), all finished but build 6; build 7 (builder 2) finished with
// no steps.
func archiveHistory(t testing.TB) *memdb.MemDB {
	db := newDB(t)
	for _, c := range []*messages.Command{masterStarted(0, "m1", 100), builder("b1"), builder("b2")} {
		mustApplyCounted(t, db, c)
	}
	at := int64(1000)
	for pair := range 3 {
		var builds []uint64
		for i := range 2 {
			builder := uint64(1 + i)
			bs := mustApplyCounted(t, db, buildset(at, builder))
			brid := bs.Ids[0]
			mustApplyCounted(t, db, claim(1, at, brid))
			builds = append(builds, mustApplyCounted(t, db, addBuild(builder, brid, 1, at)).Id)
		}
		for n, name := range []string{"prepare", "compile", "test"} {
			for _, b := range builds {
				s := mustApplyCounted(t, db, addStep(b, name, at+int64(n)))
				if n > 0 {
					l := mustApplyCounted(t, db, addLog(s.Id, "stdio"))
					mustApplyCounted(t, db, setLines(l.Id, int64(10*n)))
				}
				mustApplyCounted(t, db, cmd(&messages.FinishStep{Stepid: s.Id, Results: ResultSuccess, CompleteAt: at + int64(n) + 1}))
			}
		}
		for _, b := range builds {
			if pair == 2 && b == builds[1] {
				continue // build 6 runs on
			}
			mustApplyCounted(t, db, cmd(&messages.FinishBuild{Buildid: b, Results: ResultSuccess, CompleteAt: at + 10}))
		}
		at += 100
	}
	bs := mustApplyCounted(t, db, buildset(at, 2))
	mustApplyCounted(t, db, claim(1, at, bs.Ids[0]))
	b := mustApplyCounted(t, db, addBuild(2, bs.Ids[0], 1, at))
	mustApplyCounted(t, db, cmd(&messages.FinishBuild{Buildid: b.Id, Results: ResultSuccess, CompleteAt: at + 1}))
	return db
}

// readsOf renders every read of steps and logs the rest of the master
// makes (read.go), so that two states can be compared as readers see them.
func readsOf(t testing.TB, txn *memdb.Txn) string {
	t.Helper()
	var b strings.Builder
	row := func(m proto.Message) {
		if m == nil {
			b.WriteString("  nil\n")
			return
		}
		fmt.Fprintf(&b, "  %T %s\n", m, prototext.MarshalOptions{}.Format(m))
	}
	seq := func(what string, rows func(func(proto.Message) bool)) {
		b.WriteString(what + ":\n")
		for m := range rows {
			row(m)
		}
	}
	for _, table := range []string{TableSteps, TableLogs} {
		fmt.Fprintf(&b, "count %s %d\n", table, Count(txn, table))
		for _, desc := range []bool{false, true} {
			seq(fmt.Sprintf("scan %s desc=%v", table, desc), Scan(txn, table, desc))
		}
		for id := range uint64(22) {
			fmt.Fprintf(&b, "lookup %s %d:\n", table, id)
			row(Lookup(txn, table, id))
		}
	}
	seq("scan steps by build_number", ScanIndex(txn, TableSteps, IndexBuildNumber, false))
	seq("scan logs by step desc", ScanIndex(txn, TableLogs, IndexStep, true))
	for build := range uint64(9) {
		for _, desc := range []bool{false, true} {
			seq(fmt.Sprintf("steps of build %d desc=%v", build, desc), ScanIndex(txn, TableSteps, IndexBuildNumber+"_prefix", desc, build))
		}
		fmt.Fprintf(&b, "logs of build %d:\n", build)
		for s, l := range BuildLogs(txn, build) {
			fmt.Fprintf(&b, "  step %d:\n", s.Id)
			row(l)
		}
		fmt.Fprintf(&b, "step 1 of build %d:\n", build)
		row(First(txn, TableSteps, IndexBuildNumber, build, int32(1)))
	}
	for step := range uint64(20) {
		seq(fmt.Sprintf("logs of step %d", step), ScanIndex(txn, TableLogs, IndexStep, false, step))
		fmt.Fprintf(&b, "first log of step %d:\n", step)
		row(First(txn, TableLogs, IndexStep, step))
	}
	return b.String()
}

// rowsIn counts the rows of table in memdb itself.
func rowsIn(txn *memdb.Txn, table string) int {
	n := 0
	it, _ := txn.Get(table, IndexID+"_prefix")
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}

func archive(buildids ...uint64) *messages.Command {
	return cmd(&messages.Archive{Buildids: buildids})
}

// Archived steps and logs leave their tables and read as before, through
// every read, whichever order the builds were archived in; what comes
// after (new builds, Expire of builds and of log contents, SetLogLines)
// reads the same as it does on a state that was never archived.
func TestArchiveReadsAsBefore(t *testing.T) {
	plain, arch := archiveHistory(t), archiveHistory(t)
	want := readsOf(t, plain.Txn(false))
	if got := readsOf(t, arch.Txn(false)); got != want {
		t.Fatal("the two histories differ before archiving")
	}
	// Two segments that overlap in step and log ids: 1 and 3, then 2, 4, 5
	// (6 is unfinished; 7 has no steps).
	res := mustApplyCounted(t, arch, archive(3, 1))
	if res.Id != 1 || !slices.Equal(res.Ids, []uint64{1, 3}) {
		t.Fatalf("archive(3, 1): id %d, builds %v", res.Id, res.Ids)
	}
	res = mustApplyCounted(t, arch, archive(2, 4, 5, 7, 1, 99))
	if res.Id != 2 || !slices.Equal(res.Ids, []uint64{2, 4, 5}) {
		t.Fatalf("archive(2, 4, 5, 7, 1, 99): id %d, builds %v", res.Id, res.Ids)
	}
	txn := arch.Txn(false)
	if n := rowsIn(txn, TableSteps); n != 3 {
		t.Errorf("%d rows left in steps, want 3 (build 6's)", n)
	}
	if n := rowsIn(txn, TableLogs); n != 2 {
		t.Errorf("%d rows left in logs, want 2 (build 6's)", n)
	}
	if err := CheckArchive(txn); err != nil {
		t.Fatal(err)
	}
	if got := readsOf(t, txn); got != want {
		t.Fatalf("reads after archiving differ:\n%s", diffLines(want, got))
	}
	// A snapshot of the archived state restores to the same reads.
	restored := roundTrip(t, arch)
	if got := readsOf(t, restored.Txn(false)); got != want {
		t.Fatalf("reads after a snapshot round trip differ:\n%s", diffLines(want, got))
	}
	checkCounts(t, "archived, restored", restored.Txn(false))

	for _, c := range []*messages.Command{
		cmd(&messages.FinishBuild{Buildid: 6, Results: ResultFailure, CompleteAt: 2000}),
		archive(6),
		setLines(3, 50, 40, 45), // archived log 3: a damaged file found
		cmd(&messages.Expire{Builds: []uint64{1, 4}, LogContents: []uint64{5, 7, 9}}),
		addStep(7, "late", 3000), // a new step, ids after the archived ones
		cmd(&messages.Expire{Builds: []uint64{3}}),
	} {
		wantRes, err := applyCounted(t, plain, c)
		if err != nil {
			t.Fatalf("%v on the plain state: %v", c, err)
		}
		gotRes, err := applyCounted(t, arch, c)
		if err != nil {
			t.Fatalf("%v on the archived state: %v", c, err)
		}
		if _, ok := c.Kind.(*messages.Command_Expire); ok {
			slices.Sort(wantRes.Ids)
			slices.Sort(gotRes.Ids)
		}
		if _, ok := c.Kind.(*messages.Command_Archive); !ok && !proto.Equal(wantRes, gotRes) {
			t.Errorf("%v: result %v, want %v", c, gotRes, wantRes)
		}
		if got, want := readsOf(t, arch.Txn(false)), readsOf(t, plain.Txn(false)); got != want {
			t.Fatalf("after %v, reads differ:\n%s", c, diffLines(want, got))
		}
	}
	checkCounts(t, "archived, written", arch.Txn(false))
	// Builds 1, 3, 4 went: segment 1 (builds 1, 3) is gone, segment 2
	// keeps builds 2 and 5; segment 3 holds build 6.
	var segs []string
	for raw := range Scan(arch.Txn(false), TableArchive, false) {
		s := raw.(*messages.ArchiveSegment)
		segs = append(segs, fmt.Sprintf("%d:%v", s.Id, s.Buildids))
	}
	if got := strings.Join(segs, " "); got != "2:[2 5] 3:[6]" {
		t.Errorf("segments %s, want 2:[2 5] 3:[6]", got)
	}
}

// BuildLogs decodes an archived build once, not once per step as reading
// a build's steps and then each step's logs does: it allocates less than
// two decodes do, with three steps.
func TestBuildLogsDecodesOnce(t *testing.T) {
	db := archiveHistory(t)
	mustApplyCounted(t, db, archive(1))
	txn := db.Txn(false)
	decode := testing.AllocsPerRun(20, func() { archivedBuild(txn, 1) })
	logs := 0
	walk := testing.AllocsPerRun(20, func() {
		logs = 0
		for range BuildLogs(txn, 1) {
			logs++
		}
	})
	if logs != 2 {
		t.Fatalf("%d logs of build 1, want 2", logs)
	}
	if walk >= 2*decode {
		t.Errorf("BuildLogs of a build of 3 steps: %.0f allocations; one decode is %.0f", walk, decode)
	}
}

// Archive refuses an unfinished build and changes nothing; a step cannot
// be added to an archived build; ids are not given twice after the newest
// steps and logs were archived.
func TestArchiveRefuses(t *testing.T) {
	db := archiveHistory(t)
	before := dump(t, db)
	for _, c := range []struct {
		cmd  *messages.Command
		want string
	}{
		{archive(1, 6), "build 6 is not finished"},
		{archive(make([]uint64, MaxIDs+1)...), "buildids has 10001 ids"},
	} {
		if _, err := applyCounted(t, db, c.cmd); err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrBadCommand) {
			t.Errorf("%v: %v, want %q", c.cmd, err, c.want)
		}
	}
	if dump(t, db) != before {
		t.Error("a refused Archive changed the state")
	}
	mustApplyCounted(t, db, cmd(&messages.FinishBuild{Buildid: 6, Results: ResultSuccess, CompleteAt: 2000}))
	mustApplyCounted(t, db, archive(5, 6)) // steps 16…18, the newest; logs 11, 12
	if _, err := applyCounted(t, db, addStep(6, "more", 2001)); err == nil || !strings.Contains(err.Error(), "build 6 is finished and archived") {
		t.Errorf("a step added to archived build 6: %v", err)
	}
	if res := mustApplyCounted(t, db, addStep(7, "more", 2001)); res.Id != 19 {
		t.Errorf("next step id %d, want 19", res.Id)
	}
	if res := mustApplyCounted(t, db, addLog(19, "stdio")); res.Id != 13 {
		t.Errorf("next log id %d, want 13", res.Id)
	}
}

// A damaged segment is reported by CheckArchive and read as missing rows,
// never a crash.
func TestArchiveCorrupt(t *testing.T) {
	db := archiveHistory(t)
	mustApplyCounted(t, db, archive(1, 2, 3))
	seg := First(db.Txn(false), TableArchive, IndexID, uint64(1)).(*messages.ArchiveSegment)
	for _, c := range []struct {
		name string
		edit func(s *messages.ArchiveSegment)
	}{
		{"data cut", func(s *messages.ArchiveSegment) { s.Data = s.Data[:len(s.Data)/2] }},
		{"data garbage", func(s *messages.ArchiveSegment) {
			for i := range s.Data {
				s.Data[i] = 0xff
			}
		}},
		{"ends missing", func(s *messages.ArchiveSegment) { s.Ends = s.Ends[:1] }},
		{"step builds out of range", func(s *messages.ArchiveSegment) { s.StepBuilds[0] = 1000 }},
		{"step builds missing", func(s *messages.ArchiveSegment) { s.StepBuilds = nil }},
		{"wrong build", func(s *messages.ArchiveSegment) { s.Buildids[0] = 42 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := proto.CloneOf(seg)
			c.edit(bad)
			d := archiveHistory(t)
			mustApplyCounted(t, d, archive(1, 2, 3))
			txn := d.Txn(true)
			if err := txn.Insert(TableArchive, bad); err != nil {
				t.Fatal(err)
			}
			txn.Commit()
			r := d.Txn(false)
			if err := CheckArchive(r); !errors.Is(err, ErrArchiveCorrupt) || !strings.Contains(err.Error(), "archive segment 1") {
				t.Errorf("CheckArchive: %v", err)
			}
			_ = readsOf(t, r) // must not panic
		})
	}
}

// roundTrip writes db's snapshot and reads it into a new database.
func roundTrip(t testing.TB, db *memdb.MemDB) *memdb.MemDB {
	t.Helper()
	var buf strings.Builder
	if err := WriteSnapshot(&buf, db.Txn(false)); err != nil {
		t.Fatal(err)
	}
	out, err := ReadSnapshot(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffLines shows the first lines where a and b differ.
func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			lo := max(0, i-3)
			return fmt.Sprintf("line %d\nwant: %s\n got: %s", i, strings.Join(al[lo:min(i+4, len(al))], "\n      "), strings.Join(bl[lo:min(i+4, len(bl))], "\n      "))
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(al), len(bl))
}

// A segment whose ids span more ranges than maxArchiveRanges (a damaged
// snapshot's) is refused, not indexed under billions of keys.
func TestArchiveSpanRefused(t *testing.T) {
	db := archiveHistory(t)
	txn := db.Txn(true)
	defer txn.Abort()
	err := txn.Insert(TableArchive, &messages.ArchiveSegment{Id: 9, Buildids: []uint64{1}, Stepids: []uint64{1, 1 << 50}})
	if err == nil || !strings.Contains(err.Error(), "archive segment 9: ids 1…1125899906842624: archive segment corrupt") { // memdb does not wrap
		t.Errorf("insert: %v", err)
	}
}

// FuzzArchiveSegment: whatever a segment's lists and bytes hold, reads and
// CheckArchive never panic, and CheckArchive passes only segments whose
// every build decodes.
func FuzzArchiveSegment(f *testing.F) {
	db := archiveHistory(f)
	mustApplyCounted(f, db, archive(1, 2, 3))
	seg := First(db.Txn(false), TableArchive, IndexID, uint64(1)).(*messages.ArchiveSegment)
	enc := func(l []uint32) []byte {
		var b []byte
		for _, v := range l {
			b = append(b, byte(v), byte(v>>8))
		}
		return b
	}
	f.Add(seg.Data, enc(seg.Ends), enc(seg.StepBuilds))
	f.Add(seg.Data[:10], enc(seg.Ends), enc(seg.StepBuilds))
	f.Add([]byte{0xff, 0x01}, []byte{2, 0}, []byte{9, 0})
	dec := func(b []byte) []uint32 {
		var l []uint32
		for i := 0; i+1 < len(b); i += 2 {
			l = append(l, uint32(b[i])|uint32(b[i+1])<<8)
		}
		return l
	}
	f.Fuzz(func(t *testing.T, data, ends, stepBuilds []byte) {
		d, err := NewDB()
		if err != nil {
			t.Fatal(err)
		}
		s := proto.CloneOf(seg)
		s.Data, s.Ends, s.StepBuilds = data, dec(ends), dec(stepBuilds)
		txn := d.Txn(true)
		if err := txn.Insert(TableArchive, s); err != nil {
			t.Fatal(err)
		}
		txn.Commit()
		r := d.Txn(false)
		err = CheckArchive(r)
		if err != nil && !errors.Is(err, ErrArchiveCorrupt) {
			t.Fatalf("CheckArchive: %v, not ErrArchiveCorrupt", err)
		}
		for id := range uint64(12) {
			Lookup(r, TableSteps, id)
			Lookup(r, TableLogs, id)
			for range ScanIndex(r, TableSteps, IndexBuildNumber, false, id) {
			}
			for range ScanIndex(r, TableLogs, IndexStep, true, id) {
			}
		}
		for range Scan(r, TableSteps, true) {
		}
		for range Scan(r, TableLogs, false) {
		}
		if err == nil {
			for i := range s.Buildids {
				if _, err := stepArchive.decode(s, i); err != nil {
					t.Fatalf("CheckArchive passed a segment whose build %d does not decode: %v", i, err)
				}
			}
		}
	})
}
