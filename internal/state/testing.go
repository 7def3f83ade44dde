package state

import (
	"errors"
	"iter"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// ErrDurableLoad is returned by Load on a durable Store.
var ErrDurableLoad = errors.New("state: Load is for ephemeral stores only (a durable store's writes must go through the log)")

// Load applies cmds to an ephemeral Store directly, batch commands to one
// memdb write transaction (as raft's batching FSM applies committed
// entries), without encoding them or going through Submit. It is for tests
// and benchmarks that need large tables quickly, e.g. a million changes; the
// rows and row counts are exactly what Submit would have written. A durable
// Store refuses it, since what it wrote would not be in the log.
//
// It returns how many commands were applied and committed. On the first
// failing command its whole batch is aborted and the error returned;
// earlier batches stay committed.
func (s *Store) Load(cmds iter.Seq[*messages.Command], batch int) (int, error) {
	if s.raft != nil {
		return 0, ErrDurableLoad
	}
	return s.load(cmds, batch)
}

// ErrSeedNotEmpty is returned by Seed on a Store that holds rows.
var ErrSeedNotEmpty = errors.New("state: Seed is for an empty store only")

// Seed applies cmds to an empty durable Store as Load does to an ephemeral
// one, then takes a snapshot, so that the rows are durable and the next
// Open restores them. It is for benchmarks that need a data directory with
// a long history (a hundred thousand builds) quickly; the log never holds
// the commands, so it is refused once the Store holds any row.
func (s *Store) Seed(cmds iter.Seq[*messages.Command], batch int) (int, error) {
	txn := s.Read()
	for _, t := range Tables {
		if Count(txn, t) > 0 {
			return 0, ErrSeedNotEmpty
		}
	}
	n, err := s.load(cmds, batch)
	if err != nil || s.raft == nil {
		return n, err
	}
	return n, s.Snapshot()
}

func (s *Store) load(cmds iter.Seq[*messages.Command], batch int) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	if batch <= 0 {
		batch = 4096
	}
	done, inTxn := 0, 0
	txn := writeTxn(s.fsm.db.Load())
	seq := &ids{}
	for cmd := range cmds {
		if _, err := applyCmd(txn, seq, cmd); err != nil {
			txn.Abort()
			return done, err
		}
		inTxn++
		if inTxn == batch {
			Recount(txn)
			txn.Commit()
			done += inTxn
			inTxn = 0
			txn = writeTxn(s.fsm.db.Load())
			seq = &ids{}
		}
	}
	Recount(txn)
	txn.Commit()
	return done + inTxn, nil
}

// LoadRows inserts rows into table of an ephemeral Store as they are,
// without a command: for tests that need rows no command makes any more,
// such as an earlier release's compressed logchunks. A durable Store
// refuses it.
func (s *Store) LoadRows(table string, rows ...proto.Message) error {
	if s.raft != nil {
		return ErrDurableLoad
	}
	txn := writeTxn(s.fsm.db.Load())
	for _, r := range rows {
		if err := txn.Insert(table, r); err != nil {
			txn.Abort()
			return err
		}
	}
	Recount(txn)
	txn.Commit()
	return nil
}
