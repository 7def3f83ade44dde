package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// UpdateInterval is how often, at most, the log writer records in the
// state how many lines the open logs have (readers of a log's contents see
// its lines at once; the count in its row follows within this).
const UpdateInterval = time.Second

// logWriter is master/db/logs. It writes log contents to their files
// (rt.Logs), keeps the line counts of open logs in the state near what the
// files hold, and closes the files of the logs a command finishes before it
// submits the command, with what they hold (LogLines) in place of their
// last lines: synced, or, for small logs, with their records (closeLogs).
// It keeps nothing of its own: the open Writers are the store's and what a
// log is (its type, its step) is in the state, so a restart loses nothing.
type logWriter struct {
	rt       *service.Runtime
	ticking  bool // a logTick is due
	updating bool // the SetLogLines of a tick is not applied yet
}

type (
	logTick     struct{}
	logsUpdated struct{}
)

// Receive implements actor.Actor.
func (lw *logWriter) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.LogWrite:
		r, err := appendLog(lw, m.GetLogid(), m.GetContent())
		if err != nil {
			service.Respond(ctx, err)
			return
		}
		service.Respond(ctx, &messages.LogWritten{Logid: m.GetLogid(), FirstLine: r.From, Lines: r.Len()})
		lw.schedule(ctx)
	case *messages.Command:
		lw.finish(ctx, m)
	case logTick:
		lw.ticking = false
		lw.update(ctx)
	case logsUpdated:
		lw.updating = false
	case *actor.Stopping:
		lw.closeAll()
	}
}

// appendLog adds content to log logid's file, creating it at the first
// lines, and says so (Runtime.LogAppended: readers see the lines now). It
// keeps none of content, nor copies it first.
func appendLog[T string | []byte](lw *logWriter, logid uint64, content T) (logchunk.Range, *messages.ControlError) {
	w, cerr := lw.open(lw.rt.DB.Read(), logid)
	if cerr != nil {
		return logchunk.Range{}, cerr
	}
	var r logchunk.Range
	var err error
	switch c := any(content).(type) {
	case string:
		r, err = w.AppendChunkString(c)
	case []byte:
		r, err = w.AppendChunk(c)
	}
	if err != nil {
		return r, invalid("%v", err)
	}
	lw.rt.Stats.LogBytes.Add(float64(len(content)))
	if lw.rt.LogAppended != nil && r.Len() > 0 {
		lw.rt.LogAppended(logid, w.Lines())
	}
	return r, nil
}

// open returns log logid's Writer, creating it if the log has none yet.
func (lw *logWriter) open(txn *memdb.Txn, logid uint64) (*logchunk.Writer, *messages.ControlError) {
	if w := lw.rt.Logs.Writer(logid); w != nil {
		return w, nil
	}
	l, _ := state.Lookup(txn, state.TableLogs, logid).(*messages.Log)
	switch {
	case l == nil:
		return nil, invalid("log %d does not exist", logid)
	case l.Complete:
		return nil, invalid("log %d is finished", logid)
	case len(l.Type) != 1:
		return nil, invalid("log %d has type %q", logid, l.Type)
	}
	w, err := lw.rt.Logs.Create(logid, logchunk.Type(l.Type[0]))
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil, failed(fmt.Sprintf("log %d: its file was written and closed already (%v)", logid, err))
	case err != nil:
		return nil, failed(err.Error())
	}
	return w, nil
}

// finish takes a command that finishes logs (see finishesLogs): it writes
// the step's last lines, then closes the files of the logs the command
// finishes (closeLogs) and submits it with what they hold; the sender gets
// the command's result. What syncs files or waits is done away from the
// mailbox; small logs whose records ride in the command are closed and the
// command submitted in it, with no goroutine. An AppendLog (from
// an older caller) is written as a LogWrite is.
func (lw *logWriter) finish(ctx actor.Context, cmd *messages.Command) {
	txn := lw.rt.DB.Read()
	cmd = proto.CloneOf(cmd)
	var app *messages.AppendLog
	var logids []uint64
	var setLines func([]*messages.LogLines)
	switch k := cmd.GetKind().(type) {
	case *messages.Command_AppendLog:
		r, err := appendLog(lw, k.AppendLog.GetLogid(), k.AppendLog.GetContent())
		if err != nil {
			service.Respond(ctx, err)
			return
		}
		service.Respond(ctx, &messages.CommandResult{Id: k.AppendLog.GetLogid(), Number: int32(r.From)})
		lw.schedule(ctx)
		return
	case *messages.Command_FinishStep:
		fin := k.FinishStep
		app, fin.Append = fin.GetAppend(), nil
		logids = stepLogs(txn, fin.GetStepid(), nil)
		setLines = func(ll []*messages.LogLines) { fin.Logs = ll }
	case *messages.Command_FinishBuild:
		fin := k.FinishBuild
		if last := fin.GetLastStep(); last != nil {
			app, last.Append = last.GetAppend(), nil
		}
		for s := range state.ScanIndex(txn, state.TableSteps, state.IndexBuildNumber+"_prefix", false, fin.GetBuildid()) {
			logids = stepLogs(txn, s.(*messages.Step).GetId(), logids)
		}
		setLines = func(ll []*messages.LogLines) { fin.Logs = ll }
	case *messages.Command_FinishLog:
		logids = []uint64{k.FinishLog.GetLogid()}
	}
	if app.GetContent() != "" {
		if _, err := appendLog(lw, app.GetLogid(), app.GetContent()); err != nil {
			service.Respond(ctx, err)
			return
		}
		logids = append(logids, app.GetLogid())
	}
	var open []*logchunk.Writer
	var ids []uint64
	for _, id := range logids {
		if w := lw.rt.Logs.Writer(id); w != nil {
			open, ids = append(open, w), append(ids, id)
		}
	}
	then := answer(ctx)
	if !closesWithoutSync(lw.rt, open) || setLines == nil && len(open) > 0 {
		// Closing syncs files, and a FinishLog waits for the SetLogLines
		// before it: off the mailbox.
		go finishLogs(lw.rt, cmd, ids, open, setLines, then)
		return
	}
	// Small logs whose records ride in the command: closing them writes
	// but does not sync, unless the records are too big to ride.
	lines, unsynced := closeWriters(lw.rt, ids, open)
	if unsynced {
		go func() {
			syncRecords(lw.rt)
			submitFinish(lw.rt, cmd, lines, setLines, then)
		}()
		return
	}
	submitFinish(lw.rt, cmd, lines, setLines, then)
}

// closesWithoutSync reports whether closing ws (closeLogs) syncs no file:
// they are small logs that lost no lines, whose records ride in the
// command that finishes them.
func closesWithoutSync(rt *service.Runtime, ws []*logchunk.Writer) bool {
	if len(ws) > 0 && !rt.DB.KeepsLogRecords() {
		return false
	}
	for _, w := range ws {
		if !w.Small() || len(w.Lost()) > 0 {
			return false
		}
	}
	return true
}

// finishLogs closes the Writers ws of logs ids (closeLogs) and submits cmd
// with what they hold: in cmd (setLines), or first in a SetLogLines (nil
// setLines: FinishLog); then gets the result. When the command carrying
// the small logs' records fails or is refused, no command holds them: it
// syncs them (logchunk.Store.SyncRecords), as closing them without records
// would have, before then hears of the failure.
func finishLogs(rt *service.Runtime, cmd *messages.Command, ids []uint64, ws []*logchunk.Writer,
	setLines func([]*messages.LogLines), then func(*messages.CommandResult, error)) {
	submitFinish(rt, cmd, closeLogs(rt, ids, ws), setLines, then)
}

// submitFinish submits cmd with lines, what the logs it finishes hold (see
// finishLogs). It waits only for a FinishLog's SetLogLines.
func submitFinish(rt *service.Runtime, cmd *messages.Command, lines []*messages.LogLines,
	setLines func([]*messages.LogLines), then func(*messages.CommandResult, error)) {
	carried := slices.ContainsFunc(lines, func(l *messages.LogLines) bool { return len(l.GetRecord()) > 0 })
	syncIfLost := func(err error) {
		if err != nil && carried {
			syncRecords(rt)
		}
	}
	switch {
	case len(lines) == 0:
	case setLines != nil:
		setLines(lines)
		if carried {
			inner := then
			then = func(res *messages.CommandResult, err error) {
				if err == nil {
					inner(res, nil)
					return
				}
				go func() { // an fsync: not in the store's callback
					syncIfLost(err)
					inner(res, err)
				}()
			}
		}
	default: // FinishLog: record the lines first
		if _, err := rt.DB.Submit(setLogLines(lines)).Wait(); err != nil {
			syncIfLost(err)
			then(nil, err)
			return
		}
	}
	submitThen(rt, cmd, then)
}

// stepLogs appends to ids the ids of step stepid's logs.
func stepLogs(txn *memdb.Txn, stepid uint64, ids []uint64) []uint64 {
	for l := range state.ScanIndex(txn, state.TableLogs, state.IndexStep, false, stepid) {
		ids = append(ids, l.(*messages.Log).GetId())
	}
	return ids
}

// MaxRecordBytes bounds the small logs' records one command carries (see
// closeLogs).
const MaxRecordBytes = 256 << 10

// closeLogs closes the Writers ws of logs ids and returns what the files
// hold. A log that lost lines (disk full) says so in a last header line,
// when that can still be written.
//
// When the state hands the records commands carry to the log store
// (state.Store.KeepsLogRecords), a small log is closed without an fsync
// and its record rides in its LogLines (record), up to MaxRecordBytes in
// all: the command's raft entry makes it durable. Otherwise, and for the
// logs past that bound, the files and segment are synced before closeLogs
// returns.
func closeLogs(rt *service.Runtime, ids []uint64, ws []*logchunk.Writer) []*messages.LogLines {
	out, unsynced := closeWriters(rt, ids, ws)
	if unsynced {
		syncRecords(rt)
	}
	return out
}

// closeWriters is closeLogs but for the sync of the small logs' records
// that do not ride: it says whether there are such records (unsynced).
func closeWriters(rt *service.Runtime, ids []uint64, ws []*logchunk.Writer) (out []*messages.LogLines, unsynced bool) {
	out = make([]*messages.LogLines, 0, len(ws))
	ride := rt.DB != nil && rt.DB.KeepsLogRecords()
	budget := MaxRecordBytes
	for i, w := range ws {
		if lost := w.Lost(); len(lost) > 0 {
			note := []byte(fmt.Sprintf("[%s of this log could not be written (disk full?)]", describeLost(lost)))
			if _, err := w.Append(logchunk.Header, note); err != nil {
				_, _ = w.Append(logchunk.NoStream, note)
			}
		}
		var rec []byte
		var err error
		if ride {
			rec, err = w.CloseDeferred()
		} else {
			err = w.Close()
		}
		if err != nil {
			rt.Log.Warn("db: log file not wholly written", slog.Uint64("logid", ids[i]), slog.Any("error", err))
		}
		if len(rec) > min(budget, state.MaxLogRecordBytes) {
			rec, unsynced = nil, true
		}
		budget -= len(rec)
		out = append(out, &messages.LogLines{Logid: ids[i], NumLines: w.Lines(), Lost: lineRanges(w.Lost()), Record: rec})
	}
	return out, unsynced
}

// syncRecords makes the small logs' records written so far durable
// (logchunk.Store.SyncRecords), logging a failure.
func syncRecords(rt *service.Runtime) {
	if err := rt.Logs.SyncRecords(); err != nil {
		rt.Log.Warn("db: small logs not synced", slog.Any("error", err))
	}
}

// describeLost says which lines lost holds, e.g. "lines 10…19 and 2 more ranges".
func describeLost(lost []logchunk.Range) string {
	s := lost[0].String()
	if len(lost) > 1 {
		s += fmt.Sprintf(" and %d more ranges", len(lost)-1)
	}
	return s
}

// lineRanges turns ranges of lines into the state's, within
// state.MaxLostRanges (the last ones merged into one when there are more).
func lineRanges(rs []logchunk.Range) []*messages.LineRange {
	if len(rs) == 0 {
		return nil
	}
	if len(rs) > state.MaxLostRanges {
		last := rs[len(rs)-1]
		rs = append(rs[:state.MaxLostRanges-1:state.MaxLostRanges-1], logchunk.Range{From: rs[state.MaxLostRanges-1].From, To: last.To})
	}
	out := make([]*messages.LineRange, len(rs))
	for i, r := range rs {
		out[i] = &messages.LineRange{From: r.From, To: r.To}
	}
	return out
}

// lostLines is how many lines rs holds.
func lostLines(rs []logchunk.Range) int64 {
	n := int64(0)
	for _, r := range rs {
		n += r.Len()
	}
	return n
}

func setLogLines(ll []*messages.LogLines) *messages.Command {
	return &messages.Command{Kind: &messages.Command_SetLogLines{SetLogLines: &messages.SetLogLines{Logs: ll}}}
}

// schedule makes sure a tick comes within UpdateInterval.
func (lw *logWriter) schedule(ctx actor.Context) {
	if lw.ticking {
		return
	}
	lw.ticking = true
	root, self := ctx.ActorSystem().Root, ctx.Self()
	time.AfterFunc(UpdateInterval, func() { root.Send(self, logTick{}) })
}

// update records in the state the line counts (and lost lines) of the open
// logs that have more than it says; one write at a time.
func (lw *logWriter) update(ctx actor.Context) {
	open := lw.rt.Logs.Writing()
	if len(open) == 0 {
		return
	}
	lw.schedule(ctx)
	if lw.updating {
		return
	}
	txn := lw.rt.DB.Read()
	var lines []*messages.LogLines
	for _, id := range open {
		w := lw.rt.Logs.Writer(id)
		l, _ := state.Lookup(txn, state.TableLogs, id).(*messages.Log)
		if w == nil || l == nil || l.Complete {
			continue
		}
		if n, lost := w.Lines(), w.Lost(); n > l.NumLines || lostLines(lost) > state.LostLines(l) {
			lines = append(lines, &messages.LogLines{Logid: id, NumLines: n, Lost: lineRanges(lost)})
		}
	}
	if len(lines) == 0 {
		return
	}
	lw.updating = true
	root, self, log := ctx.ActorSystem().Root, ctx.Self(), lw.rt.Log
	submitThen(lw.rt, setLogLines(lines), func(_ *messages.CommandResult, err error) {
		if err != nil {
			log.Warn("db: recording the line counts of open logs", slog.Any("error", err))
		}
		root.Send(self, logsUpdated{})
	})
}

// closeAll closes every open log's file as the master stops, and records
// what they hold (the next start finishes them).
func (lw *logWriter) closeAll() {
	open := lw.rt.Logs.Writing()
	ws := make([]*logchunk.Writer, 0, len(open))
	ids := make([]uint64, 0, len(open))
	for _, id := range open {
		if w := lw.rt.Logs.Writer(id); w != nil {
			ws, ids = append(ws, w), append(ids, id)
		}
	}
	if len(ws) == 0 {
		return
	}
	lines := closeLogs(lw.rt, ids, ws)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := lw.rt.DB.SubmitWait(ctx, setLogLines(lines)); err != nil {
		lw.rt.Log.Warn("db: recording the logs open at stop", slog.Any("error", err))
	}
}

func invalid(format string, args ...any) *messages.ControlError {
	return &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT,
		Message: "log writer: " + fmt.Sprintf(format, args...)}
}
