package state

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// fakeRecords is a LogRecords that notes what it is handed; fail makes
// both its methods fail.
type fakeRecords struct {
	mu    sync.Mutex
	put   []uint64
	syncs int
	fail  error
}

func (f *fakeRecords) HasRecord(uint64) bool { return false } // a crash lost every record

func (f *fakeRecords) PutRecord(logid uint64, _ []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.put = append(f.put, logid)
	return f.fail
}

func (f *fakeRecords) SyncRecords() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	return f.fail
}

func (f *fakeRecords) got() ([]uint64, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.put), f.syncs
}

// The records commands carry go to Options.LogRecords once the command is
// applied, alone or in a batch, and again when Open replays it, unless the
// log's contents went since; a record the store cannot take does not stop
// the command. A snapshot syncs the records first, and fails when they
// cannot be synced.
func TestLogRecordsPutAndSynced(t *testing.T) {
	dir := t.TempDir()
	recs := &fakeRecords{fail: errors.New("disk on fire")}
	opts := testOpts()
	opts.SnapshotThreshold, opts.NoSnapshotOnClose, opts.LogRecords = 1<<20, true, recs
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range fixtureCommands() {
		if _, err := s.Submit(c).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*messages.Command{
		addLog(1, "other"), // log 2
		cmd(&messages.SetLogLines{Logs: []*messages.LogLines{{Logid: 1, NumLines: 2, Record: []byte("log 1")},
			{Logid: 2, NumLines: 1, Record: []byte("log 2")}}}),
		cmd(&messages.FinishLog{Logid: 2}),
		cmd(&messages.Expire{LogContents: []uint64{2}}),
	} {
		if _, err := s.Submit(c).Wait(); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
	if put, _ := recs.got(); !slices.Equal(put, []uint64{1, 2}) {
		t.Errorf("records put: %v, want [1 2]", put)
	}
	if err := s.Snapshot(); err == nil || !strings.Contains(err.Error(), recs.fail.Error()) { // raft keeps only the text
		t.Errorf("snapshot while the records cannot be synced: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	recs = &fakeRecords{}
	opts.LogRecords, opts.NoSnapshotOnClose = recs, false
	if s, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	if put, syncs := recs.got(); !slices.Equal(put, []uint64{1}) || syncs != 0 {
		t.Errorf("replay: records put %v, %d syncs; want [1], 0", put, syncs)
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if _, syncs := recs.got(); syncs != 1 {
		t.Errorf("%d syncs for a snapshot, want 1", syncs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// No snapshot is taken while the replay holds records the log store lacks:
// it would let raft drop the commands that are their only copy. Once they
// are written back, snapshots are taken again.
func TestNoSnapshotBeforeMissingRecordsAreWritten(t *testing.T) {
	db := fixture(t) // log 1
	recs := &fakeRecords{}
	f := &fsm{records: recs, log: quiet()}
	f.db.Store(db)
	f.startup.Store(&startup{})
	f.putRecords(cmd(&messages.SetLogLines{Logs: []*messages.LogLines{{Logid: 1, NumLines: 1, Record: []byte("log 1")}}}))
	if _, err := f.Snapshot(); err == nil {
		t.Error("snapshot taken while a record the replay found missing was not written back")
	}
	f.startup.Store(nil)
	f.putMissing(db.Txn(false))
	if put, _ := recs.got(); !slices.Equal(put, []uint64{1}) {
		t.Errorf("records put: %v, want [1]", put)
	}
	if _, err := f.Snapshot(); err != nil {
		t.Error(err)
	}
}
