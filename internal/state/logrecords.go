package state

import (
	"log/slog"

	"github.com/buildmaster/buildmaster/messages"
)

// LogRecords is the log store as the state sees it: where the small logs'
// records that commands carry (LogLines.record) go. The log writer writes
// a small log's record to the store without an fsync and puts it in the
// command that records the log, whose raft entry is fsynced anyway: one
// fsync per batch of commands makes both durable. After a command is
// applied (also when Open replays it) the Store hands each record it
// carries to PutRecord, which writes it again if a crash lost it from the
// log store's unsynced tail; before a snapshot, which lets raft drop the
// commands before it, the Store calls SyncRecords. *logchunk.Store
// implements it.
type LogRecords interface {
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
// applied. A record the store refuses or cannot write is logged: the
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
	for _, ll := range logs {
		if len(ll.GetRecord()) == 0 {
			continue
		}
		if err := f.records.PutRecord(ll.GetLogid(), ll.GetRecord()); err != nil {
			f.log.Warn("state: writing a log's record carried by a command", slog.Uint64("logid", ll.GetLogid()), slog.Any("error", err))
		}
	}
}

// KeepsLogRecords reports whether the Store hands the log records commands
// carry to a LogRecords (Options.LogRecords): only then may a log's
// durability ride in the command that records it.
func (s *Store) KeepsLogRecords() bool { return s.fsm.records != nil }
