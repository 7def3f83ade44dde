package reporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The bounds of the log tail a mail carries.
const (
	// TailLines is how many of the failing step's last log lines a mail
	// carries.
	TailLines = 40
	// TailLineBytes cuts a longer line (with "…").
	TailLineBytes = 400
	// TailBytes bounds the tail: its oldest lines go first.
	TailBytes = 8 << 10
)

// addLogTail gives r's failed step the last lines of its log: the step's
// stdio log, or else its first log. Header lines of a stdio log (the
// command, its environment, its exit code) are left out: the tail is the
// output. A log that cannot be read leaves the step without a tail.
func addLogTail(ctx context.Context, txn *memdb.Txn, logs *logchunk.Store, r *report.Report, wwwURL string) error {
	fs := r.Build.FailedStep
	if fs == nil {
		return nil
	}
	var log *messages.Log
	for row := range state.ScanIndex(txn, state.TableLogs, state.IndexStep, false, fs.StepID) {
		l := row.(*messages.Log)
		if log == nil || l.Slug == "stdio" {
			log = l
		}
		if l.Slug == "stdio" {
			break
		}
	}
	if log == nil || log.NumLines == 0 {
		return nil
	}
	// A few more lines than kept, for the header lines left out.
	first := max(0, log.NumLines-TailLines-8)
	content, err := logLines(ctx, logs, log, first, log.NumLines)
	if err != nil {
		return fmt.Errorf("reading log %d of step %q: %w", log.Id, fs.Name, err)
	}
	fs.LogName, fs.LogTail = log.Name, tail(content, log.Type == "s")
	if wwwURL != "" {
		fs.LogURL = fmt.Sprintf("%s/api/v2/logs/%d/raw", wwwURL, log.Id)
	}
	return nil
}

// logLines returns lines first…end-1 of l as Buildbot's logchunks hold
// them: each line ended with a newline and, in a stdio log, led by its
// stream ('o', 'e' or 'h'). It reads the log's file, as the data API does
// (logs/{id}/contents); lines the file lost are left out.
func logLines(ctx context.Context, logs *logchunk.Store, l *messages.Log, first, end int64) ([]byte, error) {
	if logs == nil || l.Type == state.LogTypeDeleted {
		return nil, nil
	}
	var content []byte
	_, err := logs.Read(ctx, l.Id, first, end-first, func(ln logchunk.Line) error {
		content = ln.AppendContent(content)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil // a log whose lines were never written, or all lost
	}
	return content, err
}

// tail is the last lines of content, within the bounds above, stdio's
// stream letters and header lines removed.
func tail(content []byte, stdio bool) []string {
	var lines []string
	for line := range bytes.Lines(content) {
		line = bytes.TrimRight(line, "\r\n")
		if stdio {
			if len(line) == 0 || line[0] == 'h' {
				continue
			}
			line = line[1:]
		}
		s := strings.ToValidUTF8(string(line), "\uFFFD")
		if len(s) > TailLineBytes {
			cut := TailLineBytes
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			s = s[:cut] + "…"
		}
		lines = append(lines, s)
	}
	lines = lines[max(0, len(lines)-TailLines):]
	size := 0
	for i := len(lines) - 1; i >= 0; i-- {
		size += len(lines[i]) + 1
		if size > TailBytes {
			return lines[i+1:]
		}
	}
	return lines
}
