package state

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// An archived build request named in UnclaimBuildRequests (or FinishBuild's
// brids: requests() in buildrequests.go) is a complete one, skipped as in
// the plain state, not one that "does not exist".
func TestArchivedRequestIsComplete(t *testing.T) {
	plain, arch := setHistory(t), setHistory(t)
	mustApplyCounted(t, arch, archiveSets(4, 1))
	c := cmd(&messages.UnclaimBuildRequests{Masterid: 1, Brids: []uint64{1}})
	if _, err := applyCounted(t, plain, c); err != nil {
		t.Fatalf("plain: %v", err)
	}
	if _, err := applyCounted(t, arch, c); err != nil {
		t.Fatalf("archived state answers differently: %v", err)
	}
}

// A buildset segment whose builders, numbers and sets lists are longer than
// its buildids (damage that a snapshot restore accepts) is skipped by
// reads, not a panic.
func TestDamagedSetSegmentReadsSkip(t *testing.T) {
	db := newDB(t)
	txn := db.Txn(true)
	seg := &messages.BuildsetSegment{Id: 1, Buildsetids: []uint64{1}, Ends: []uint32{0},
		Buildids: []uint64{5}, BuildSets: []uint32{0, 0}, BuildBuilders: []uint64{7, 7}, BuildNumbers: []int32{1, 2}}
	if err := txn.Insert(TableBuildsetArchive, seg); err != nil {
		t.Fatal(err)
	}
	txn.Commit()
	for name, f := range map[string]func(){
		"First(builds, builder_number, 7, 2)": func() { First(db.Txn(false), TableBuilds, IndexBuilderNumber, uint64(7), int32(2)) },
		"BuildsBefore(7, 10)": func() {
			for range BuildsBefore(db.Txn(false), 7, 10) {
			}
		},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s panics: %v", name, r)
				}
			}()
			f()
		}()
	}
}

// A buildset segment removed by SetBuildProperties (unarchiveSets) does
// not give its id to the next segment.
func TestSetSegmentIDNotReused(t *testing.T) {
	db := setHistory(t)
	mustApplyCounted(t, db, archiveSets(4, 1)) // segment 1
	if id := mustApplyCounted(t, db, archiveSets(2)).Id; id != 2 {
		t.Fatalf("segment %d", id)
	}
	mustApplyCounted(t, db, cmd(&messages.SetBuildProperties{Buildid: 4, Properties: []*messages.Property{{Name: "x", ValueJson: "1", Source: "t"}}}))
	if id := mustApplyCounted(t, db, archiveSets(2)).Id; id == 2 {
		t.Errorf("segment id 2 reused after SetBuildProperties removed segment 2")
	}
}

// The same commands applied one by one and as one raft batch (ApplyBatch,
// whose ids cache spans the batch) leave the same segment ids, also when
// SetBuildProperties removes the newest segment.
func TestSetSegmentIDsBatchedAsSingle(t *testing.T) {
	cmds := []*messages.Command{
		archiveSets(4, 1),
		archiveSets(2),
		cmd(&messages.SetBuildProperties{Buildid: 4, Properties: []*messages.Property{{Name: "x", ValueJson: "1", Source: "t"}}}),
		archiveSets(2),
	}
	single := setHistory(t)
	for _, c := range cmds {
		mustApplyCounted(t, single, c)
	}
	f := &fsm{}
	f.db.Store(setHistory(t))
	var logs []*raft.Log
	for i, c := range cmds {
		b, _ := proto.Marshal(c)
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b})
	}
	f.ApplyBatch(logs)
	segs := func(db *memdb.MemDB) string {
		var out []string
		for raw := range Scan(db.Txn(false), TableBuildsetArchive, false) {
			s := raw.(*messages.BuildsetSegment)
			out = append(out, fmt.Sprintf("%d:%v", s.Id, s.Buildsetids))
		}
		return strings.Join(out, " ")
	}
	if a, b := segs(single), segs(f.db.Load()); a != b {
		t.Errorf("one by one: %s; batched: %s", a, b)
	}
}
