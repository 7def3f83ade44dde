package state

import (
	"log/slog"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// LogRecords is the log store as the state sees it: where the small logs'
// records that commands carry (LogLines.record) go. The log writer writes
// a small log's record to the store without an fsync and puts it in the
// command that records the log, whose raft entry is fsynced anyway: one
// fsync per batch of commands makes both durable. After a command is
// applied the Store hands each record it carries to PutRecord, which
// writes it again if a crash lost it from the log store's unsynced tail;
// before a snapshot, which lets raft drop the commands before it, the
// Store calls SyncRecords.
//
// When Open replays the log, the records the store lacks are written once
// the replay is over, and only those of logs the state still has with
// their contents: a log removed since (a horizon) is not brought back.
// *logchunk.Store implements it.
type LogRecords interface {
	// HasRecord reports whether the log store holds log logid's contents.
	HasRecord(logid uint64) bool
	// PutRecord makes sure the log store holds log logid's record rec:
	// handing it the same record again changes nothing.
	PutRecord(logid uint64, rec []byte) error
	// SyncRecords makes every record the store holds durable.
	SyncRecords() error
}

// MaxLogRecordBytes bounds one LogLines.record: a small log's record (at
// most 64 KiB of lines, compressed) fits.
const MaxLogRecordBytes = 128 << 10

// putRecords hands the log records cmd carries to f.records, once cmd is
// applied; during Open's replay it keeps those the store lacks for
// putMissing. A record the store refuses or cannot write is logged: the
// command is applied, and the log's lines read as lost.
func (f *fsm) putRecords(cmd *messages.Command) {
	if f.records == nil {
		return
	}
	var logs []*messages.LogLines
	switch k := cmd.GetKind().(type) {
	case *messages.Command_FinishStep:
		logs = k.FinishStep.GetLogs()
	case *messages.Command_FinishBuild:
		logs = k.FinishBuild.GetLogs()
	case *messages.Command_SetLogLines:
		logs = k.SetLogLines.GetLogs()
	}
	replaying := f.startup.Load() != nil
	for _, ll := range logs {
		switch {
		case len(ll.GetRecord()) == 0:
		case replaying:
			if !f.records.HasRecord(ll.GetLogid()) {
				f.mu.Lock()
				f.missing = append(f.missing, ll)
				f.mu.Unlock()
			}
		default:
			f.putRecord(ll)
		}
	}
}

func (f *fsm) putRecord(ll *messages.LogLines) {
	if err := f.records.PutRecord(ll.GetLogid(), ll.GetRecord()); err != nil {
		f.log.Warn("state: writing a log's record carried by a command", slog.Uint64("logid", ll.GetLogid()), slog.Any("error", err))
	}
}

// putMissing writes, once Open has replayed the log, the records the
// replay found missing from the log store (a crash lost them) of the logs
// txn still has with their contents, and logs how many.
func (f *fsm) putMissing(txn *memdb.Txn) {
	f.mu.Lock()
	missing := f.missing
	f.missing = nil
	f.mu.Unlock()
	put := 0
	for _, ll := range missing {
		l, _ := Lookup(txn, TableLogs, ll.GetLogid()).(*messages.Log)
		if l == nil {
			l, _ = findArchivedLog(txn, ll.GetLogid())
		}
		if l == nil || l.Type == LogTypeDeleted {
			continue
		}
		f.putRecord(ll)
		put++
	}
	if len(missing) > 0 {
		f.log.Info("state: wrote back the small logs' records a crash lost, from the replayed commands",
			slog.Int("records", put), slog.Int("of_logs_gone_since", len(missing)-put))
	}
}

// KeepsLogRecords reports whether the Store hands the log records commands
// carry to a LogRecords (Options.LogRecords): only then may a log's
// durability ride in the command that records it.
func (s *Store) KeepsLogRecords() bool { return s.fsm.records != nil }
