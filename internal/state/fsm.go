package state

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// fsm is raft's finite state machine: a memdb applied to by Apply.
type fsm struct {
	db     atomic.Pointer[memdb.MemDB]
	health *health // nil when ephemeral
	// records receives the log records commands carry once they are
	// applied, and is synced before a snapshot (Options.LogRecords); nil:
	// none.
	records LogRecords
	log     *slog.Logger
	// watch, when set, is called with each committed transaction's changes
	// (Store.OnCommit).
	watch atomic.Pointer[func(memdb.Changes)]

	mu         sync.Mutex
	restoreErr error // the first failed Restore: Open refuses to start
	// missing are the log records Open's replay found the log store
	// without, written once it is over (putMissing).
	missing []*messages.LogLines

	// startup counts the rows and bytes of the restore during Open (nil
	// after). Only raft's goroutine restores, within Open.
	startup atomic.Pointer[startup]

	// index is the raft index of the last log entry applied (committed to
	// db, or refused, by ApplyBatch, which raft hands every entry to) or,
	// during Open, of the snapshot restored: db holds everything up to it.
	// Open's progress line reports it rather than raft's AppliedIndex,
	// which counts an entry as applied once it is queued for the FSM, ahead
	// of db. Raft's no-op and barrier entries never reach the FSM, so at
	// the end of a replay index may be a few short of raft's last index.
	index atomic.Uint64
}

// applied is what fsm.Apply returns through raft's ApplyFuture.Response.
type applied struct {
	res *messages.CommandResult
	err error
}

// apply applies one command in its own write transaction, committed only
// when Apply succeeds; a panic in Apply aborts it and comes back as an error.
func (f *fsm) apply(cmd *messages.Command) (res *messages.CommandResult, err error) {
	txn := writeTxn(f.db.Load())
	defer func() {
		if r := recover(); r != nil {
			txn.Abort()
			res, err = nil, fmt.Errorf("state: panic applying command: %v", r)
		}
	}()
	res, err = Apply(txn, cmd)
	if err != nil {
		txn.Abort()
		return nil, err
	}
	changes := recount(txn)
	txn.Commit()
	f.committed(changes)
	f.putRecords(cmd)
	return res, nil
}

// committed hands a committed transaction's changes to the watcher, if
// any: readers already see them.
func (f *fsm) committed(changes memdb.Changes) {
	if w := f.watch.Load(); w != nil {
		(*w)(changes)
	}
}

// Apply applies one committed raft entry (raft.FSM); a command that does not
// decode is refused as ErrBadCommand.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd := &messages.Command{}
	if err := proto.Unmarshal(l.Data, cmd); err != nil {
		return applied{err: fmt.Errorf("%w: raft log entry %d: %v", ErrBadCommand, l.Index, err)}
	}
	res, err := f.apply(cmd)
	return applied{res: res, err: err}
}

// ApplyBatch applies raft's committed entries in one memdb write
// transaction (raft.BatchingFSM): much cheaper than one per command. If any
// command in the batch fails, the batch transaction is aborted and the
// entries are applied again one transaction each, so that a bad command
// still writes nothing and the others are unaffected; the result is the
// same as applying them one by one, since Apply is deterministic.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	cmds := make([]*messages.Command, len(logs))
	ok := true
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		cmd := &messages.Command{}
		if err := proto.Unmarshal(l.Data, cmd); err != nil {
			ok = false
			break
		}
		cmds[i] = cmd
	}
	if ok {
		ok = f.applyAll(cmds, out)
	}
	if !ok {
		for i, l := range logs {
			out[i] = f.Apply(l)
		}
	}
	if len(logs) > 0 {
		f.index.Store(logs[len(logs)-1].Index)
	}
	return out
}

// applyAll applies cmds (nil entries skipped) in one write transaction,
// filling out; it reports false, having written nothing, when any fails.
func (f *fsm) applyAll(cmds []*messages.Command, out []any) (ok bool) {
	txn := writeTxn(f.db.Load())
	defer func() {
		if r := recover(); r != nil {
			txn.Abort()
			ok = false
		}
	}()
	seq := &ids{}
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		res, err := applyCmd(txn, seq, cmd)
		if err != nil {
			txn.Abort()
			return false
		}
		out[i] = applied{res: res}
	}
	changes := recount(txn)
	txn.Commit()
	f.committed(changes)
	for _, cmd := range cmds {
		if cmd != nil {
			f.putRecords(cmd)
		}
	}
	return true
}

// Snapshot captures the current database for Persist (raft.FSM). It
// refuses while Open's replay holds log records the log store lacks
// (putMissing writes them once it is over): the snapshot would let raft
// drop the commands that are their only copy.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	missing := len(f.missing)
	f.mu.Unlock()
	if missing > 0 {
		return nil, fmt.Errorf("state: no snapshot before the %d log records the replay found missing are written back", missing)
	}
	return &fsmSnapshot{txn: f.db.Load().Txn(false), health: f.health, records: f.records}, nil
}

// Restore replaces the database with a snapshot's (raft.FSM); the first
// failure is kept for Open, which then refuses to start.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var progress *restoreProgress
	var size int64
	st := f.startup.Load()
	if st != nil {
		progress, size = &st.restore, st.snapshot
	}
	db, err := readSnapshot(rc, size, progress)
	if err != nil {
		f.mu.Lock()
		if f.restoreErr == nil {
			f.restoreErr = err
		}
		f.mu.Unlock()
		return err
	}
	f.db.Store(db)
	if st != nil {
		f.index.Store(st.snapshotIndex)
	}
	return nil
}

// fsmSnapshot writes a read transaction with WriteSnapshot.
type fsmSnapshot struct {
	txn     *memdb.Txn
	health  *health
	records LogRecords // nil: none
}

// Persist syncs the log records (the commands that carry them may go once
// the snapshot is taken), writes the snapshot to sink (raft.FSMSnapshot),
// cancelling the sink on failure, and records the outcome in the Store's
// health.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	var err error
	if s.records != nil {
		if err = s.records.SyncRecords(); err != nil {
			err = fmt.Errorf("state: snapshot: syncing the log records commands carried: %w", err)
		}
	}
	if err == nil {
		err = WriteSnapshot(sink, s.txn)
	}
	if err != nil {
		_ = sink.Cancel()
	} else {
		err = sink.Close()
	}
	if s.health != nil {
		s.health.snapshot(err)
	}
	return err
}

// Release does nothing: a read transaction needs no release.
func (s *fsmSnapshot) Release() {}

// snapshotStore is raft's snapshot store, recording in the Store's health a
// snapshot that cannot even be created (Persist records the others), and
// refusing, during start-up, to fall back to an older snapshot when one
// does not open.
type snapshotStore struct {
	*raft.FileSnapshotStore
	health *health
	dir    string

	mu      sync.Mutex
	started bool  // raft has started (startedUp): no more refusals
	damaged error // the first snapshot that did not open during start-up
}

// Create implements raft.SnapshotStore.
func (s *snapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		s.health.snapshot(err)
	}
	return sink, err
}

// Open opens a snapshot and checks its CRC, reading it whole
// (raft.SnapshotStore). At start raft opens the newest snapshot and, when
// that fails, falls back to an older one, whose following log entries may
// already be compacted away: once one snapshot failed to open during
// start-up, every Open until startedUp fails with that error, so that raft
// cannot start and Open reports it. After start-up a snapshot that does not
// open fails only its own Open. This is the one CRC pass of a start:
// checking the newest snapshot before raft (which checks it again) cost a
// read of the whole file.
func (s *snapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	s.mu.Lock()
	starting, damaged := !s.started, s.damaged
	s.mu.Unlock()
	if starting && damaged != nil {
		return nil, nil, damaged
	}
	meta, rc, err := s.FileSnapshotStore.Open(id)
	if err == nil {
		return meta, rc, nil
	}
	path := filepath.Join(s.dir, SnapshotDir, id, "state.bin")
	if !starting {
		return nil, nil, fmt.Errorf("state: snapshot %s is damaged: %w", path, err)
	}
	damaged = fmt.Errorf("state: snapshot %s is damaged (%v); refusing to start: acknowledged writes could be lost. Move that snapshot directory away only if the log still covers its index", path, err)
	s.mu.Lock()
	s.damaged = damaged
	s.mu.Unlock()
	return nil, nil, damaged
}

// startedUp ends start-up (raft.NewRaft has returned) and returns the error
// of the snapshot that did not open during it, if any.
func (s *snapshotStore) startedUp() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
	return s.damaged
}
