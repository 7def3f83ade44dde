package state

import (
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// decodedArchivedSets counts the rows of table in the buildset archive,
// decoding every buildset.
func decodedArchivedSets(t testing.TB, txn *memdb.Txn, table string) int {
	t.Helper()
	n := 0
	for raw := range scanTable(txn, TableBuildsetArchive, IndexID, false) {
		s := raw.(*messages.BuildsetSegment)
		for i := range s.Buildsetids {
			set, err := setArchive.decode(s, i)
			if err != nil {
				t.Fatal(err)
			}
			switch table {
			case TableBuilds:
				n += len(set.Builds)
			case TableBuildRequests:
				n += len(set.Requests)
			default:
				n++
			}
		}
	}
	return n
}

// setHistory: builders 1…3. Buildset 1 (requests 1, 2 on builders 1 and
// 2), builds 1, 2; buildset 2 (request 3, builder 1) built twice (build 3
// retried, build 4); buildset 3 (requests 4, 5 on builders 1 and 2), build
// 5 finished, request 5 not built (the buildset is incomplete); buildset
// 4 (request 6, builder 3), build 6; buildset 5 (request 7, builder 1),
// build 7, builder 1's newest; buildset 6 (request 8, builder 2), build 8
// running; buildset 7 (request 9, builder 3), build 9, builder 3's newest;
// buildset 8 (request 10, builder 2), build 10, finished later than the
// others. Builds have properties; build 1 has steps.
func setHistory(t testing.TB) *memdb.MemDB {
	db := newDB(t)
	for _, c := range []*messages.Command{masterStarted(0, "m1", 100), builder("b1"), builder("b2"), builder("b3")} {
		mustApplyCounted(t, db, c)
	}
	at := int64(1000)
	build := func(builder, brid uint64, results int32, complete bool) uint64 {
		at += 10
		mustApplyCounted(t, db, claim(1, at, brid))
		id := mustApplyCounted(t, db, addBuild(builder, brid, 1, at)).Id
		mustApplyCounted(t, db, cmd(&messages.SetBuildProperties{Buildid: id, Properties: []*messages.Property{{Name: "n", ValueJson: fmt.Sprint(id), Source: "t"}}}))
		if complete {
			var brids []uint64
			if results != ResultRetry {
				brids = []uint64{brid}
			}
			mustApplyCounted(t, db, cmd(&messages.FinishBuild{Buildid: id, Results: results, CompleteAt: at + 5, Brids: brids}))
		}
		return id
	}
	bs := mustApplyCounted(t, db, buildset(at, 1, 2)).Ids
	b1 := build(1, bs[0], ResultSuccess, true)
	s := mustApplyCounted(t, db, addStep(b1, "compile", at))
	mustApplyCounted(t, db, cmd(&messages.FinishStep{Stepid: s.Id, Results: ResultSuccess, CompleteAt: at + 1}))
	build(2, bs[1], ResultFailure, true)
	bs = mustApplyCounted(t, db, buildset(at, 1)).Ids
	build(1, bs[0], ResultRetry, true)
	if n := mustApplyCounted(t, db, cmd(&messages.UnclaimBuildRequests{Masterid: 1, Brids: bs})); n == nil {
		t.Fatal("unclaim")
	}
	build(1, bs[0], ResultSuccess, true)
	bs = mustApplyCounted(t, db, buildset(at, 1, 2)).Ids
	build(1, bs[0], ResultSuccess, true)
	for _, b := range []uint64{3, 1, 2, 3} {
		bs = mustApplyCounted(t, db, buildset(at, b)).Ids
		build(b, bs[0], ResultSuccess, b != 2)
	}
	at += 1000
	bs = mustApplyCounted(t, db, buildset(at, 2)).Ids
	build(2, bs[0], ResultWarnings, true)
	return db
}

// setReadsOf renders every read of builds, build requests and buildsets
// the master makes through read.go, so that two states can be compared as
// readers see them.
func setReadsOf(t testing.TB, txn *memdb.Txn) string {
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
	for _, table := range []string{TableBuilds, TableBuildRequests, TableBuildsets} {
		fmt.Fprintf(&b, "count %s %d\n", table, Count(txn, table))
		for _, desc := range []bool{false, true} {
			seq(fmt.Sprintf("scan %s desc=%v", table, desc), Scan(txn, table, desc))
			// The first two only, as a page reads them.
			n := 0
			seq(fmt.Sprintf("page of %s desc=%v", table, desc), func(yield func(proto.Message) bool) {
				for m := range Scan(txn, table, desc) {
					if n++; n > 2 || !yield(m) {
						return
					}
				}
			})
		}
		for id := range uint64(13) {
			fmt.Fprintf(&b, "lookup %s %d:\n", table, id)
			row(Lookup(txn, table, id))
		}
	}
	for _, desc := range []bool{false, true} {
		seq(fmt.Sprintf("builds by builder_number desc=%v", desc), ScanIndex(txn, TableBuilds, IndexBuilderNumber, desc))
		seq(fmt.Sprintf("builds by buildrequest desc=%v", desc), ScanIndex(txn, TableBuilds, IndexBuildRequest, desc))
		seq(fmt.Sprintf("requests by buildset desc=%v", desc), ScanIndex(txn, TableBuildRequests, IndexBuildset, desc))
		seq(fmt.Sprintf("incomplete builds desc=%v", desc), ScanIndex(txn, TableBuilds, IndexIncompleteBy+"_prefix", desc))
		seq(fmt.Sprintf("unclaimed requests desc=%v", desc), ScanIndex(txn, TableBuildRequests, IndexUnclaimed+"_prefix", desc))
		for builder := range uint64(5) {
			seq(fmt.Sprintf("builds of builder %d desc=%v", builder, desc), ScanIndex(txn, TableBuilds, IndexBuilderNumber+"_prefix", desc, builder))
		}
		for id := range uint64(12) {
			seq(fmt.Sprintf("requests of buildset %d desc=%v", id, desc), ScanIndex(txn, TableBuildRequests, IndexBuildset, desc, id))
			seq(fmt.Sprintf("builds of request %d desc=%v", id, desc), ScanIndex(txn, TableBuilds, IndexBuildRequest, desc, id))
		}
	}
	for _, table := range []string{TableBuilds, TableBuildRequests, TableBuildsets} {
		for from := range uint64(13) {
			seq(fmt.Sprintf("%s from %d", table, from), ScanFrom(txn, table, from))
		}
	}
	for builder := range uint64(5) {
		for _, upTo := range []int32{0, 1, 2, 3, math.MaxInt32} {
			seq(fmt.Sprintf("builds of builder %d up to %d", builder, upTo), func(yield func(proto.Message) bool) {
				for bd := range BuildsBefore(txn, builder, upTo) {
					if !yield(bd) {
						return
					}
				}
			})
		}
		fmt.Fprintf(&b, "first build of builder %d:\n", builder)
		row(First(txn, TableBuilds, IndexBuilderNumber+"_prefix", builder))
		for n := range int32(7) {
			fmt.Fprintf(&b, "build %d of builder %d:\n", n, builder)
			row(First(txn, TableBuilds, IndexBuilderNumber, builder, n))
		}
	}
	for id := range uint64(12) {
		fmt.Fprintf(&b, "first request of buildset %d:\n", id)
		row(First(txn, TableBuildRequests, IndexBuildset, id))
	}
	return b.String()
}

func archiveSets(ids ...uint64) *messages.Command {
	return cmd(&messages.ArchiveBuildsets{Buildsetids: ids})
}

// Archived buildsets, with their requests and builds, leave their tables
// and read as before through every read; the steps of their builds too; a
// snapshot restores them; and what comes after (properties set on an
// archived build, Expire of archived builds, requests and buildsets, new
// buildsets and builds) reads and answers the same as on a state never
// archived.
func TestArchiveBuildsetsReadsAsBefore(t *testing.T) {
	plain, arch := setHistory(t), setHistory(t)
	want, wantSteps := setReadsOf(t, plain.Txn(false)), readsOf(t, plain.Txn(false))
	if got := setReadsOf(t, arch.Txn(false)); got != want {
		t.Fatal("the two histories differ before archiving")
	}
	eligible := ToArchiveBuildsets(arch.Txn(false), 1200)
	if !slices.Equal(eligible, []uint64{1, 2, 4}) {
		t.Fatalf("ToArchiveBuildsets = %v, want [1 2 4] (3 incomplete, 5 and 7 a builder's newest, 6 running, 8 too late)", eligible)
	}
	// Two segments, the second overlapping the first in ids.
	res := mustApplyCounted(t, arch, archiveSets(4, 1))
	if res.Id != 1 || !slices.Equal(res.Ids, []uint64{1, 4}) {
		t.Fatalf("archive(4, 1): id %d, buildsets %v", res.Id, res.Ids)
	}
	res = mustApplyCounted(t, arch, archiveSets(2, 1, 99))
	if res.Id != 2 || !slices.Equal(res.Ids, []uint64{2}) {
		t.Fatalf("archive(2, 1, 99): id %d, buildsets %v", res.Id, res.Ids)
	}
	txn := arch.Txn(false)
	for table, n := range map[string]int{TableBuildsets: 5, TableBuildRequests: 6, TableBuilds: 5} {
		if got := rowsIn(txn, table); got != n {
			t.Errorf("%d rows left in %s, want %d", got, table, n)
		}
	}
	if err := CheckArchive(txn); err != nil {
		t.Fatal(err)
	}
	if got := setReadsOf(t, txn); got != want {
		t.Fatalf("reads after archiving differ:\n%s", diffLines(want, got))
	}
	if got := readsOf(t, txn); got != wantSteps {
		t.Fatalf("step reads after archiving differ:\n%s", diffLines(wantSteps, got))
	}
	checkCounts(t, "archived", txn)
	restored := roundTrip(t, arch)
	if got := setReadsOf(t, restored.Txn(false)); got != want {
		t.Fatalf("reads after a snapshot round trip differ:\n%s", diffLines(want, got))
	}
	checkCounts(t, "archived, restored", restored.Txn(false))

	for _, c := range []*messages.Command{
		archive(1), // the steps of archived build 1
		cmd(&messages.SetBuildProperties{Buildid: 4, Properties: []*messages.Property{{Name: "x", ValueJson: "1", Source: "t"}}}),
		cmd(&messages.Expire{Builds: []uint64{3, 2}}),
		cmd(&messages.Expire{Builds: []uint64{4}, Buildrequests: []uint64{3}, Buildsets: []uint64{2}}),
		buildset(5000, 1, 2, 3), // new ids after the archived ones
		claim(1, 5001, 11),
		addBuild(1, 11, 1, 5002),
		cmd(&messages.Expire{Builds: []uint64{1}}),
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
		if got, want := setReadsOf(t, arch.Txn(false)), setReadsOf(t, plain.Txn(false)); got != want {
			t.Fatalf("after %v, reads differ:\n%s", c, diffLines(want, got))
		}
		if got, want := readsOf(t, arch.Txn(false)), readsOf(t, plain.Txn(false)); got != want {
			t.Fatalf("after %v, step reads differ:\n%s", c, diffLines(want, got))
		}
	}
	checkCounts(t, "archived, written", arch.Txn(false))
	// Buildset 4 alone stays archived (2 went back for build 4's
	// properties, 1 for the expiry of build 2).
	var segs []string
	for raw := range Scan(arch.Txn(false), TableBuildsetArchive, false) {
		s := raw.(*messages.BuildsetSegment)
		segs = append(segs, fmt.Sprintf("%d:%v", s.Id, s.Buildsetids))
	}
	if got := strings.Join(segs, " "); got != "1:[4]" {
		t.Errorf("segments %s, want 1:[4]", got)
	}
}

// ArchiveBuildsets refuses a buildset not complete, or with a build that
// is its builder's newest, and changes nothing.
func TestArchiveBuildsetsRefuses(t *testing.T) {
	db := setHistory(t)
	before := dump(t, db)
	for _, c := range []struct {
		ids  []uint64
		want string
	}{
		{[]uint64{1, 3}, "buildset 3 is not complete"},
		{[]uint64{5}, "build 7 is the newest of builder 1"},
		{[]uint64{6}, "buildset 6 is not complete"},
	} {
		_, err := applyCounted(t, db, archiveSets(c.ids...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("archive %v: %v, want %q", c.ids, err, c.want)
		}
	}
	if dump(t, db) != before {
		t.Error("a refused ArchiveBuildsets changed the state")
	}
	if got := ToArchiveBuildsets(db.Txn(false), math.MaxInt64); !slices.Equal(got, []uint64{1, 2, 4}) {
		t.Errorf("ToArchiveBuildsets(any time) = %v, want [1 2 4] (8's build is builder 2's newest)", got)
	}
}

// Expire of archived buildsets in a segment with a damaged buildset
// applies, of the damaged buildset too: the damaged buildset, unread
// already, is dropped, the rest kept.
func TestArchiveBuildsetsExpireDamaged(t *testing.T) {
	db := setHistory(t)
	mustApplyCounted(t, db, archiveSets(1, 2, 4))
	txn := db.Txn(true)
	s := proto.CloneOf(First(txn, TableBuildsetArchive, IndexID, uint64(1)).(*messages.BuildsetSegment))
	damageEntry(s.Data, s.Ends, 1) // buildset 2
	if err := txn.Insert(TableBuildsetArchive, s); err != nil {
		t.Fatal(err)
	}
	txn.Commit()
	if _, err := applyCounted(t, db, cmd(&messages.Expire{Builds: []uint64{6, 3, 4}, Buildrequests: []uint64{6, 3}, Buildsets: []uint64{4, 2}})); err != nil {
		t.Fatalf("expire beside a damaged buildset: %v", err)
	}
	r := db.Txn(false)
	for id := uint64(1); id <= 8; id++ {
		want := id != 2 && id != 4
		if got := Lookup(r, TableBuildsets, id) != nil; got != want {
			t.Errorf("buildset %d read %v, want %v", id, got, want)
		}
	}
	if Lookup(r, TableBuilds, 6) != nil || Lookup(r, TableBuilds, 1) == nil {
		t.Error("build 6 not expired, or build 1 (buildset 1) lost")
	}
	if err := CheckArchive(r); err != nil {
		t.Error(err)
	}
	checkCounts(t, "expired beside damage", r)
}

// TestScanUnfinishedHoldsEveryUnfinishedRow: with buildsets archived, the
// builds without results, the requests and the buildsets not complete are
// the same in ScanUnfinished as in Scan, and ScanUnfinished leaves the
// archived rows out.
func TestScanUnfinishedHoldsEveryUnfinishedRow(t *testing.T) {
	db := setHistory(t)
	mustApplyCounted(t, db, archiveSets(1, 2, 4))
	txn := db.Txn(false)
	unfinished := map[string]func(proto.Message) bool{
		TableBuilds:        func(m proto.Message) bool { return !m.(*messages.Build).HasResults() },
		TableBuildRequests: func(m proto.Message) bool { return !m.(*messages.BuildRequest).Complete },
		TableBuildsets:     func(m proto.Message) bool { return !m.(*messages.Buildset).Complete },
	}
	for table, open := range unfinished {
		ids := func(rows iter.Seq[proto.Message]) (all, unfinished []uint64) {
			for m := range rows {
				id := m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByName("id")).Uint()
				all = append(all, id)
				if open(m) {
					unfinished = append(unfinished, id)
				}
			}
			return all, unfinished
		}
		all, want := ids(Scan(txn, table, true))
		live, got := ids(ScanUnfinished(txn, table, true))
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: unfinished %v from ScanUnfinished, want %v (non-empty)", table, got, want)
		}
		if len(live) != len(all)-decodedArchivedSets(t, txn, table) {
			t.Errorf("%s: ScanUnfinished yields %d of %d rows, want the %d not archived", table, len(live), len(all), len(all)-decodedArchivedSets(t, txn, table))
		}
	}
}
