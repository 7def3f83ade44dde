package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// fuzzFixture extends fixture with finished history, archived and not, so
// that archiving commands can succeed as well as be refused: changes 2…6
// (2 and 3 archived, 4…6 archivable); buildsets 2…5 on builders 1, 2, 1, 2,
// each with one request (3…6) and its finished build (2…5), which has a
// step and a log (2…5): build 3's archived (Archive), the others'
// archivable; buildset 2 archived (ArchiveBuildsets), buildset 3
// archivable, buildsets 4 and 5 not (builds 4 and 5 are their builders'
// newest). Rows are counted (Recount), as a Store keeps them.
func fuzzFixture(t testing.TB) *memdb.MemDB {
	db := newDB(t)
	for _, c := range fixtureCommands() {
		mustApplyCounted(t, db, c)
	}
	for i, branch := range []string{"main", "dev", "main", "", "dev"} {
		mustApplyCounted(t, db, addChange(change(fmt.Sprintf("dev%d", i), branch, int64(200+i))))
	}
	at := int64(300)
	for i, b := range []uint64{1, 2, 1, 2} {
		at += 10
		brid, buildid := uint64(3+i), uint64(2+i)
		mustApplyCounted(t, db, buildset(at, b))
		mustApplyCounted(t, db, claim(1, at, brid))
		mustApplyCounted(t, db, addBuild(b, brid, 1, at))
		mustApplyCounted(t, db, cmd(&messages.SetBuildProperties{Buildid: buildid, Properties: []*messages.Property{{Name: "n", ValueJson: fmt.Sprint(buildid), Source: "t"}}}))
		stepid := mustApplyCounted(t, db, addStep(buildid, "compile", at)).Id
		logid := mustApplyCounted(t, db, addLog(stepid, "stdio")).Id
		mustApplyCounted(t, db, appendLog(logid, "ok\n"))
		mustApplyCounted(t, db, cmd(&messages.FinishStep{Stepid: stepid, Results: ResultSuccess, CompleteAt: at + 1}))
		mustApplyCounted(t, db, cmd(&messages.FinishBuild{Buildid: buildid, Results: ResultSuccess, CompleteAt: at + 5, Brids: []uint64{brid}}))
	}
	mustApplyCounted(t, db, archive(3))
	mustApplyCounted(t, db, archiveSets(2))
	mustApplyCounted(t, db, archiveChanges(2, 3))
	return db
}

// fuzzSeeds are FuzzApply's seeds besides goldenCommands: commands that
// archive, read back and write over fuzzFixture's history.
func fuzzSeeds() []*messages.Command {
	props := []*messages.Property{{Name: "x", ValueJson: "1", Source: "t"}}
	return []*messages.Command{
		archiveChanges(4, 5, 6), archiveChanges(2, 4, 99), archiveChanges(1),
		archiveSets(3), archiveSets(3, 4), archiveSets(2, 3), archive(4, 5), archive(2, 3),
		cmd(&messages.SetBuildProperties{Buildid: 2, Properties: props}),
		cmd(&messages.SetBuildProperties{Buildid: 3, Properties: props}),
		cmd(&messages.Expire{Builds: []uint64{2}, Buildrequests: []uint64{3}, Buildsets: []uint64{2}, Changes: []uint64{2, 4}}),
		cmd(&messages.Expire{Builds: []uint64{3, 2}, Sourcestamps: []uint64{2}, LogContents: []uint64{3}}),
		addChange(change("late", "dev", 400)),
		buildset(400, 1, 2),
	}
}

// fuzzFixture holds what each archive can take: FuzzApply's seeds archive
// something, not only refuse.
func TestFuzzFixtureArchives(t *testing.T) {
	for _, c := range []*messages.Command{archiveSets(3), archiveChanges(4, 5, 6), archive(4, 5)} {
		if res := mustApplyCounted(t, fuzzFixture(t), c); res.Id == 0 {
			t.Errorf("%v archived nothing: %v", c, res)
		}
	}
}

// FuzzApply decodes arbitrary bytes as a Command (as the raft FSM does) and
// applies it, as a Store does, to a database holding fuzzFixture. It must
// never panic, every error must be a clear ErrBadCommand, a refused
// command writes nothing, and an applied one leaves the archives sound
// (CheckArchive: every archive) and the row counts exact.
func FuzzApply(f *testing.F) {
	for _, c := range append(goldenCommands(), fuzzSeeds()...) {
		b, _ := proto.Marshal(c)
		f.Add(b)
	}
	base := fuzzFixture(f)
	before := dump(f, base)
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd := &messages.Command{}
		if err := proto.Unmarshal(data, cmd); err != nil {
			return
		}
		db := base.Snapshot()
		txn := db.Txn(true)
		txn.TrackChanges()
		_, err := Apply(txn, cmd)
		if err != nil {
			txn.Abort()
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error is not ErrBadCommand: %v", err)
			}
			if dump(t, db) != before {
				t.Fatal("refused command wrote something")
			}
			return
		}
		Recount(txn)
		txn.Commit()
		r := db.Txn(false)
		if err := CheckArchive(r); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
		checkCounts(t, "applied", r)
	})
}

// TestWriteFuzzSeeds writes the committed seed corpus (with -update).
func TestWriteFuzzSeeds(t *testing.T) {
	if !testkit.Update() {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzApply")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzApply")
	os.MkdirAll(dir, 0o755)
	for i, c := range append(goldenCommands(), fuzzSeeds()...) {
		b, _ := proto.Marshal(c)
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
