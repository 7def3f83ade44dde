package db_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"

	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The janitor archives the complete buildsets whose builds all finished
// more than db.ArchiveAfter ago, none of them its builder's newest: they
// leave their tables and read as before; the others stay.
func TestJanitorArchivesBuildsets(t *testing.T) {
	m := mastertest.Start(t, "", t.TempDir(), nil)
	b := call(t, m, &messages.FindOrAddBuilder{Name: "b"}).GetId()
	c := call(t, m, &messages.FindOrAddBuilder{Name: "c"}).GetId()
	now := time.Now().Unix()
	// set adds a buildset on builder, built once, finished at done (0:
	// running).
	set := func(builder uint64, at, done int64) uint64 {
		res := call(t, m, &messages.AddBuildset{Reason: "t", SubmittedAt: at, Builderids: []uint64{builder}})
		brid := res.GetIds()[0]
		build := call(t, m, &messages.AddBuild{Builderid: builder, Buildrequestid: brid, Masterid: m.RT.MasterID, StartedAt: at, ClaimBrids: []uint64{brid}}).GetId()
		if done > 0 {
			call(t, m, &messages.FinishBuild{Buildid: build, Results: state.ResultSuccess, CompleteAt: done, Brids: []uint64{brid}})
		}
		return res.GetId()
	}
	old1, old2 := set(b, 100, 101), set(b, 102, 103)
	cNewest := set(c, 104, 105) // old, but c's newest build
	recent := set(b, now, now)  // finished within db.ArchiveAfter
	running := set(b, now, 0)
	rows := func(id uint64) string {
		txn := m.RT.DB.Read()
		s := prototext.Format(state.Lookup(txn, state.TableBuildsets, id))
		for r := range state.ScanIndex(txn, state.TableBuildRequests, state.IndexBuildset, false, id) {
			s += prototext.Format(r)
			for bd := range state.ScanIndex(txn, state.TableBuilds, state.IndexBuildRequest, false, r.(*messages.BuildRequest).Id) {
				s += prototext.Format(bd)
			}
		}
		return s
	}
	want := map[uint64]string{}
	for _, id := range []uint64{old1, old2, cNewest, recent, running} {
		want[id] = rows(id)
	}

	res, err := cleanup(m, mastertest.Token)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetArchivedBuildsets() != 2 {
		t.Errorf("cleanup: %v, want 2 buildsets archived", res)
	}
	txn := m.RT.DB.Read()
	var left []uint64
	it, err := txn.Get(state.TableBuildsets, state.IndexID)
	if err != nil {
		t.Fatal(err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		left = append(left, raw.(*messages.Buildset).Id)
	}
	if w := []uint64{cNewest, recent, running}; !slices.Equal(left, w) {
		t.Errorf("buildsets left in the table: %v, want %v", left, w)
	}
	for id, w := range want {
		if got := rows(id); got != w {
			t.Errorf("buildset %d reads\n%s\nwant\n%s", id, got, w)
		}
	}
	if err := state.CheckArchive(txn); err != nil {
		t.Error(err)
	}
	if res, err := cleanup(m, mastertest.Token); err != nil || res.GetArchivedBuildsets() != 0 {
		t.Errorf("second cleanup: %v, %v; want nothing more archived", res, err)
	}
}
