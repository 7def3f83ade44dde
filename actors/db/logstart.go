package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// LogsDir is where, under the data directory, the log files are kept.
const LogsDir = "logs"

// startBatch is how many logs one write at start records.
const startBatch = 256

// OpenLogs opens the log files in dir (OpenLogStore), then makes them
// agree with the state st (AgreeLogs). A state that is to keep the small
// logs' records (state.Options.LogRecords) is opened between the two.
func OpenLogs(ctx context.Context, dir string, st *state.Store, log *slog.Logger) (*logchunk.Store, func() error, error) {
	logs, closeLogs, err := OpenLogStore(dir, log)
	if err != nil {
		return nil, nil, err
	}
	if err := AgreeLogs(ctx, logs, st, log); err != nil {
		closeLogs()
		return nil, nil, err
	}
	return logs, closeLogs, nil
}

// OpenLogStore opens the log files in dir (a new temporary directory,
// removed by the returned close, when dir is ""), logging the damage found
// in the small logs' segments. The returned close closes the store.
func OpenLogStore(dir string, log *slog.Logger) (*logchunk.Store, func() error, error) {
	temp := dir == ""
	if temp {
		d, err := os.MkdirTemp("", "buildmaster-logs-")
		if err != nil {
			return nil, nil, fmt.Errorf("log files: %w", err)
		}
		dir = d
	}
	logs, err := logchunk.Open(dir, logchunk.Options{})
	if err != nil {
		return nil, nil, err
	}
	closeLogs := func() error {
		err := logs.Close()
		if temp {
			err = errors.Join(err, os.RemoveAll(dir))
		}
		return err
	}
	for _, d := range logs.Damage() {
		log.Warn("log files: small logs' segment damaged; what it held there is skipped, "+
			"but for the records the state's log still carries, which are written again", slog.Any("damage", d))
	}
	return logs, closeLogs, nil
}

// AgreeLogs makes the log files logs agree with the state st before the
// master starts:
//
//   - contents an earlier release kept in the state (rows of logchunks) are
//     written to files, one log at a time, and their rows removed
//     (SetLogLines); a snapshot then drops them from the disk too. A start
//     cut short redoes it: a log still with rows gets its file written
//     again;
//   - the files of logs still open (a master that stopped uncleanly) are
//     recovered: a torn or damaged tail is cut off, and the lines it held,
//     or the state counted but no file holds, are marked lost.
//
// It logs what it did.
func AgreeLogs(ctx context.Context, logs *logchunk.Store, st *state.Store, log *slog.Logger) error {
	if err := migrateLogs(ctx, logs, st, log); err != nil {
		return err
	}
	return recoverOpenLogs(ctx, logs, st, log)
}

// migrateLogs moves the contents of logs kept in the state to files.
func migrateLogs(ctx context.Context, logs *logchunk.Store, st *state.Store, log *slog.Logger) error {
	txn := st.Read()
	ids, err := state.LegacyLogs(txn)
	if err != nil || len(ids) == 0 {
		return err
	}
	start := time.Now()
	log.Info("log files: moving log contents out of the state", slog.Int("logs", len(ids)))
	var batch []*messages.LogLines
	done, last := 0, time.Now()
	for _, id := range ids {
		l, _ := state.Lookup(txn, state.TableLogs, id).(*messages.Log)
		if l == nil {
			continue // rows without a log: nothing names them
		}
		ll, err := migrateLog(ctx, logs, txn, l)
		if err != nil {
			return err
		}
		if batch = append(batch, ll); len(batch) == startBatch {
			if err := record(ctx, st, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		if done++; time.Since(last) > 2*time.Second {
			log.Info("log files: moving log contents", slog.Int("done", done), slog.Int("of", len(ids)))
			last = time.Now()
		}
	}
	if err := record(ctx, st, batch); err != nil {
		return err
	}
	if err := st.Snapshot(); err != nil {
		return fmt.Errorf("log files: snapshot after moving log contents: %w", err)
	}
	log.Info("log files: log contents moved out of the state", slog.Int("logs", done), slog.Duration("took", time.Since(start)))
	return nil
}

// migrateLog writes log l's rows in logchunks to its file (replacing one
// a start cut short left) and returns what the file holds.
func migrateLog(ctx context.Context, logs *logchunk.Store, txn *memdb.Txn, l *messages.Log) (*messages.LogLines, error) {
	if _, err := logs.Remove(ctx, l.Id); err != nil {
		return nil, err
	}
	typ := logchunk.Stdio
	if len(l.Type) == 1 {
		typ = logchunk.Type(l.Type[0])
	}
	w, err := logs.Create(l.Id, typ)
	if err != nil {
		return nil, err
	}
	for content, err := range state.LegacyChunks(txn, l.Id) {
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("log files: log %d: %w", l.Id, err)
		}
		if _, err := w.AppendChunk(content); err != nil {
			// Not in Buildbot's form: keep the text as stdout (or plain) lines.
			s := logchunk.Stdout
			if typ != logchunk.Stdio {
				s = logchunk.NoStream
			}
			_, _ = w.Append(s, content)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("log files: writing log %d: %w", l.Id, err)
	}
	return fileLines(l, w.Lines(), w.Lost()), nil
}

// recoverOpenLogs recovers the files of the logs of unfinished builds that
// are still open.
func recoverOpenLogs(ctx context.Context, logs *logchunk.Store, st *state.Store, log *slog.Logger) error {
	txn := st.Read()
	var batch []*messages.LogLines
	for b := range state.ScanIndex(txn, state.TableBuilds, state.IndexIncompleteBy+"_prefix", false) {
		for s := range state.ScanIndex(txn, state.TableSteps, state.IndexBuildNumber+"_prefix", false, b.(*messages.Build).GetId()) {
			for raw := range state.ScanIndex(txn, state.TableLogs, state.IndexStep, false, s.(*messages.Step).GetId()) {
				l := raw.(*messages.Log)
				if l.Complete {
					continue
				}
				rep, err := logs.Recover(ctx, l.Id)
				switch {
				case errors.Is(err, fs.ErrNotExist):
					rep = logchunk.Report{}
				case err != nil:
					return err
				}
				if rep.Torn > 0 || len(rep.Damage) > 0 {
					log.Warn("log files: recovered a log file left open", slog.Uint64("logid", l.Id),
						slog.Int64("lines", rep.Lines), slog.Int64("bytes_cut", rep.Torn), slog.Int("damaged", len(rep.Damage)))
				}
				batch = append(batch, fileLines(l, rep.Lines, rep.Lost))
			}
		}
	}
	return record(ctx, st, batch)
}

// fileLines is what a file holding lines lines, of which lost were lost,
// says of log l: lines it counted that the file lacks are lost too.
func fileLines(l *messages.Log, lines int64, lost []logchunk.Range) *messages.LogLines {
	if l.NumLines > lines {
		lost = append(lost, logchunk.Range{From: lines, To: l.NumLines})
		lines = l.NumLines
	}
	return &messages.LogLines{Logid: l.Id, NumLines: lines, Lost: lineRanges(lost)}
}

// record writes batch (SetLogLines) and waits for it.
func record(ctx context.Context, st *state.Store, batch []*messages.LogLines) error {
	if len(batch) == 0 {
		return nil
	}
	if _, err := st.SubmitWait(ctx, setLogLines(batch)); err != nil {
		return fmt.Errorf("log files: recording %d logs: %w", len(batch), err)
	}
	return nil
}
