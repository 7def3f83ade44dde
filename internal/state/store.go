package state

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

// Store is the master's database: a memdb changed only through Submit. In
// durable mode each command is a raft log entry, committed to disk before
// it is applied and acknowledged; in ephemeral mode it is applied at once.
type Store struct {
	fsm  *fsm
	raft *raft.Raft // nil when ephemeral
	// raftPtr is raft, for Open's progress log (read while Open sets raft).
	raftPtr atomic.Pointer[raft.Raft]
	logs    *guardedLog
	snaps   *raft.FileSnapshotStore
	health  *health // nil when ephemeral
	trans   *raft.InmemTransport
	dir     string
	opts    Options

	policy    snapshotPolicy
	completer completer // SubmitAsync's

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
	// stopped is closed once raft has shut down: the raft futures it
	// left unanswered then fail (endsWithShutdown).
	stopped       chan struct{}
	shutdownField atomic.Pointer[shutdownField] // of raft's futures (endsWithShutdown)
}

// OpenEphemeral returns an in-memory Store: commands are applied at once
// and nothing survives the process.
func OpenEphemeral() *Store {
	db, err := NewDB()
	if err != nil {
		panic(err) // the schema is static: only a programming error gets here
	}
	s := &Store{fsm: &fsm{}}
	s.fsm.db.Store(db)
	return s
}

// OnCommit sets fn to be called after every committed write transaction
// (one command, or a batch of them) with its changes (not those of the row
// counts), in commit order, on the goroutine that applies commands: fn must
// not block and must not modify the records (the event bus publishes them;
// see actors/status).
// Commands replayed by Open are applied before any fn is set. nil stops
// the calls.
func (s *Store) OnCommit(fn func(memdb.Changes)) {
	if fn == nil {
		s.fsm.watch.Store(nil)
		return
	}
	s.fsm.watch.Store(&fn)
}

// Read returns an immutable read transaction of the current state. It
// never waits for writers; abort it (or just drop it) when done.
func (s *Store) Read() *memdb.Txn { return s.fsm.db.Load().Txn(false) }

// Snapshot asks raft for a snapshot now (normally raft takes them by itself).
func (s *Store) Snapshot() error {
	if s.raft == nil {
		return nil
	}
	return s.raft.Snapshot().Error()
}

// Close takes a snapshot (so that the next Open need not replay the log)
// unless the log cannot be written, stops raft and closes the files.
// Commands submitted after Close fail with ErrClosed; commands submitted
// before it are applied first (waiting up to 10s); a command raft had not
// answered when it stopped fails with raft.ErrRaftShutdown (whose outcome,
// as ever with that error, is unknown: it may be applied at the next
// Open), and so may one whose result is not yet waited for. With
// Options.NoSnapshotOnClose it neither waits nor snapshots, and leaves the
// directory as a crash would.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.raft == nil {
			return
		}
		s.stopSnapshotPolicy()
		if !s.opts.NoSnapshotOnClose && s.raft.State() == raft.Leader && s.health.get().Log == nil {
			_ = s.raft.Barrier(10 * time.Second).Error()
			if err := s.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
				s.opts.Logger.Warn("state: snapshot on close failed", "dir", s.dir, "error", err)
			}
		}
		s.logs.beginClose()
		s.closeErr = s.raft.Shutdown().Error()
		close(s.stopped)
		if err := s.trans.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
		if err := s.logs.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// Health reports whether the Store can write to its disk; an ephemeral
// Store is always healthy.
func (s *Store) Health() Health {
	if s.health == nil {
		return Health{}
	}
	return s.health.get()
}
