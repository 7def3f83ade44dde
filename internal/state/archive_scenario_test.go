package state

import (
	"iter"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// lookups yields the rows of table with ids, as Lookup reads them (a row
// not found is left out).
func lookups(sc *scenario, table string, ids ...uint64) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		txn := sc.db.Txn(false)
		for _, id := range ids {
			if m := Lookup(txn, table, id); m != nil && !yield(m) {
				return
			}
		}
	}
}

// TestArchiveBuildsetsScenario archives a finished buildset with its
// requests and builds (ArchiveBuildsets), reads them back through
// read.go, sets a property on an archived build (which brings its buildset
// back to the tables), archives it again and expires it; the database after
// each phase, and what readers see, are compared with
// testdata/archive_buildsets.golden (-update rewrites it).
func TestArchiveBuildsetsScenario(t *testing.T) {
	db := fixture(t) // buildset 1: request 1 (builder 1) built by build 1, running; request 2 (builder 2) unclaimed
	sc := &scenario{t: t, db: db}
	phase, refused := sc.phase, sc.refused
	reads := func() {
		sc.read("buildsets 1, 2", lookups(sc, TableBuildsets, 1, 2))
		sc.read("requests of buildset 1", ScanIndex(db.Txn(false), TableBuildRequests, IndexBuildset, false, uint64(1)))
		sc.read("builds 1…4", lookups(sc, TableBuilds, 1, 2, 3, 4))
		sc.read("builds of builder 1, newest first", func(yield func(proto.Message) bool) {
			for b := range BuildsBefore(db.Txn(false), 1, 10) {
				if !yield(b) {
					return
				}
			}
		})
		sc.read("steps of build 1", ScanIndex(db.Txn(false), TableSteps, IndexBuildNumber+"_prefix", false, uint64(1)))
	}

	phase("buildset 1 completes (build 1 SUCCESS, build 2 FAILURE); buildset 2 completes after it on both builders (builds 3, 4)",
		cmd(&messages.FinishBuild{Buildid: 1, Results: ResultSuccess, CompleteAt: 130, Brids: []uint64{1},
			LastStep: &messages.FinishStep{Stepid: 1, Results: ResultSuccess, CompleteAt: 130}}),
		claim(1, 131, 2), addBuild(2, 2, 1, 131),
		cmd(&messages.FinishBuild{Buildid: 2, Results: ResultFailure, CompleteAt: 140, Brids: []uint64{2}}),
		buildset(150, 1, 2), claim(1, 151, 3, 4), addBuild(1, 3, 1, 151), addBuild(2, 4, 1, 151),
		cmd(&messages.FinishBuild{Buildid: 3, Results: ResultSuccess, CompleteAt: 160, Brids: []uint64{3}}),
		cmd(&messages.FinishBuild{Buildid: 4, Results: ResultSuccess, CompleteAt: 160, Brids: []uint64{4}}),
	)
	refused(archiveSets(1, 2), "build 3 is the newest of builder 1")

	res := phase("buildset 1, its requests 1, 2 and builds 1, 2 leave their tables for buildset segment 1",
		archiveSets(1, 99))
	if res[0].GetId() != 1 || !slices.Equal(res[0].GetIds(), []uint64{1}) {
		t.Fatalf("ArchiveBuildsets result %v, want segment 1 holding buildset 1", res[0])
	}
	reads()

	phase("a property set on archived build 1 brings buildset 1 back to the tables, segment 1 with it",
		cmd(&messages.SetBuildProperties{Buildid: 1, Properties: []*messages.Property{{Name: "p", ValueJson: `"set late"`, Source: "t"}}}))
	reads()

	phase("buildset 1 is archived again (segment 2); build 2 expires, then buildset 1 with its requests and build 1",
		archiveSets(1),
		cmd(&messages.Expire{Builds: []uint64{2}}),
		cmd(&messages.Expire{Builds: []uint64{1}, Buildrequests: []uint64{1, 2}, Buildsets: []uint64{1}}))
	reads()

	sc.golden("archive_buildsets.golden")
}

// TestArchiveChangesScenario archives old changes (ArchiveChanges), reads
// them back through read.go and ChangesFrom, adds a change whose parent is
// archived, archives changes archived already (nothing changes) and
// expires archived changes; the database after each phase, and what
// readers see, are compared with testdata/archive_changes.golden (-update
// rewrites it).
func TestArchiveChangesScenario(t *testing.T) {
	db := fixture(t) // change 1 (alice, main)
	sc := &scenario{t: t, db: db}
	phase := sc.phase
	reads := func() {
		sc.read("changes 1…7", lookups(sc, TableChanges, 1, 2, 3, 4, 5, 6, 7))
		sc.read("changes of branch main", ScanIndex(db.Txn(false), TableChanges, IndexBranch, false, "main"))
		sc.read("changes from 7, newest first", func(yield func(proto.Message) bool) {
			for c := range ChangesFrom(db.Txn(false), 7) {
				if !yield(c) {
					return
				}
			}
		})
		sc.read("properties of sourcestamps 1, 2", func(yield func(proto.Message) bool) {
			for p := range ChangeProperties(db.Txn(false), []uint64{1, 2}) {
				if !yield(p) {
					return
				}
			}
		})
	}

	phase("changes 2…5 on dev and main",
		addChange(change("bob", "dev", 200)), addChange(change("carol", "main", 210)),
		addChange(change("dave", "dev", 220)), addChange(change("erin", "main", 230)))

	res := phase("changes 1…4 leave the changes table for change segment 1", archiveChanges(4, 2, 1, 3))
	if res[0].GetId() != 1 || !slices.Equal(res[0].GetIds(), []uint64{1, 2, 3, 4}) {
		t.Fatalf("ArchiveChanges result %v, want segment 1 holding changes 1…4", res[0])
	}
	reads()

	phase("a change on dev: its parent is archived change 4; archiving changes archived already changes nothing",
		addChange(change("frank", "dev", 240)), archiveChanges(1, 2, 99))

	phase("archived changes 2 and 3 and change 6 expire: segment 1 is written again without them",
		cmd(&messages.Expire{Changes: []uint64{2, 3, 6}}))
	reads()

	sc.golden("archive_changes.golden")
}
