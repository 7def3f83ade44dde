package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/hashicorp/go-memdb"
)

// records is a slog.Handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// attrs returns the attributes of the records with message msg.
func (r *records) attrs(msg string) []map[string]slog.Value {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]slog.Value
	for _, rec := range r.recs {
		if rec.Message == msg {
			m := map[string]slog.Value{}
			rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value; return true })
			out = append(out, m)
		}
	}
	return out
}

// TestOpenLogsItsRecovery: Open logs the end of its recovery (rows
// restored from the snapshot, the last index), and its progress while it
// lasts.
func TestOpenLogsItsRecovery(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		if _, err := s.Submit(addChange(change(fmt.Sprintf("a%d", i), "main", int64(i+1)))).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // with a snapshot
		t.Fatal(err)
	}

	log := &records{}
	s, err = Open(dir, Options{Logger: slog.New(log), ProgressInterval: time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := log.attrs("state: recovered")
	if len(done) != 1 {
		t.Fatalf("%d 'state: recovered' lines", len(done))
	}
	// n changes, n sourcestamps, the row counts.
	if rows := done[0]["snapshot_rows"].Uint64(); rows < 2*n {
		t.Errorf("restored %d rows from the snapshot, want at least %d", rows, 2*n)
	}
	if last := done[0]["last_index"].Uint64(); last < n {
		t.Errorf("last index %d", last)
	}
	if len(log.attrs("state: restoring snapshot"))+len(log.attrs("state: replaying log")) == 0 {
		t.Error("no progress line, at an interval of 1µs")
	}
}

// TestReplayProgressIsWhatTheFSMApplied: while the FSM is held in the first
// commit of a replay, raft's AppliedIndex runs ahead to the end of the log
// (it counts entries queued for the FSM), but the progress line reports
// only what the FSM has applied.
func TestReplayProgressIsWhatTheFSMApplied(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet(), NoSnapshotOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 600 // a few of raft's batches of 128
	for i := range n {
		if _, err := s.Submit(addChange(change(fmt.Sprintf("a%d", i), "main", int64(i+1)))).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	last := s.raft.LastIndex()        // the last command's
	if err := s.Close(); err != nil { // no snapshot: Open replays the log
		t.Fatal(err)
	}

	held, release := make(chan *Store, 1), make(chan struct{})
	var released sync.Once
	unhold := func() { released.Do(func() { close(release) }) }
	defer unhold()
	log := &records{}
	opts := Options{Logger: slog.New(log), ProgressInterval: time.Millisecond}
	opts.starting = func(s *Store) {
		var first atomic.Bool
		s.OnCommit(func(memdb.Changes) {
			if first.CompareAndSwap(false, true) {
				held <- s
				<-release
			}
		})
	}
	var reopened *Store
	opened := make(chan error, 1)
	go func() {
		var err error
		reopened, err = Open(dir, opts)
		opened <- err
	}()
	s = <-held
	applied := s.fsm.index.Load() // still while the FSM is held
	testkit.Eventually(t, "raft's applied index past every command", func() bool {
		r := s.raftPtr.Load()
		return r != nil && r.AppliedIndex() > n
	})
	// The line after the next one read the indexes after raft ran ahead.
	seen := len(log.attrs("state: replaying log"))
	testkit.Eventually(t, "two more progress lines", func() bool { return len(log.attrs("state: replaying log")) >= seen+2 })
	line := log.attrs("state: replaying log")[seen+1]
	if got := line["applied_index"].Uint64(); got != applied {
		t.Errorf("progress line says applied_index=%d while the FSM has applied up to %d (raft's: %d)", got, applied, s.raftPtr.Load().AppliedIndex())
	}
	unhold()
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if got := reopened.fsm.index.Load(); got != last {
		t.Errorf("the FSM has applied up to %d after the replay, want the last command's index %d", got, last)
	}
}

// TestRestoreSetsTheFSMIndex: after Open restores a snapshot, the FSM's
// index (what the replay's progress line reports) is the snapshot's.
func TestRestoreSetsTheFSMIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := s.Submit(addChange(change(fmt.Sprintf("a%d", i), "main", int64(i+1)))).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // with a snapshot
		t.Fatal(err)
	}
	s, err = Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := s.snaps.List()
	if err != nil || len(list) == 0 {
		t.Fatalf("snapshots: %v, %v", list, err)
	}
	if got := s.fsm.index.Load(); got != list[0].Index {
		t.Errorf("FSM index %d after restoring the snapshot of index %d", got, list[0].Index)
	}
}

// TestRestoreProgressCountsInsertedRows: the restore's progress counts the
// bytes of the rows it has inserted, not those it has read and decoded
// ahead: held in the middle of the second batch of rows, it counts exactly
// the first batch's bytes, and at the end the whole snapshot.
func TestRestoreProgressCountsInsertedRows(t *testing.T) {
	s := OpenEphemeral()
	for i := range 1100 { // a change and a sourcestamp each: more than two batches of rows
		if _, err := s.Submit(addChange(change(fmt.Sprintf("a%d", i), "main", int64(i+1)))).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	var snap bytes.Buffer
	if err := WriteSnapshot(&snap, s.Read()); err != nil {
		t.Fatal(err)
	}
	const batch = 1024 // decodeSnapshot's
	b := snap.Bytes()
	r := bytes.NewReader(b[len(snapshotMagic):])
	var end int64 // of the first batch
	for i := range 2*batch - 1 {
		if i == batch {
			end = int64(len(b)) - int64(r.Len())
		}
		if _, err := binary.ReadUvarint(r); err != nil {
			t.Fatal(err)
		}
		l, err := binary.ReadUvarint(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Seek(int64(l), io.SeekCurrent); err != nil {
			t.Fatal(err)
		}
	}
	held := int64(len(b)) - int64(r.Len()) // the end of the row before the second batch's last

	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		_, err := pw.Write(b[:held+2]) // and the header of the next row
		written <- err
	}()
	var progress restoreProgress
	restored := make(chan error, 1)
	go func() {
		_, err := readSnapshot(pr, int64(len(b)), &progress)
		restored <- err
	}()
	if err := <-written; err != nil { // read, every byte of it
		t.Fatal(err)
	}
	testkit.Eventually(t, "a batch of rows inserted", func() bool { return progress.rows.Load() == batch })
	if got := progress.bytes.Load(); got != end {
		t.Errorf("after %d rows inserted, %d bytes counted, want %d (the bytes of those rows)", batch, got, end)
	}
	go func() {
		_, err := pw.Write(b[held+2:])
		pw.CloseWithError(err)
	}()
	if err := <-restored; err != nil {
		t.Fatal(err)
	}
	if got := progress.bytes.Load(); got != int64(len(b)) {
		t.Errorf("restored, %d bytes counted of %d", got, len(b))
	}
}
