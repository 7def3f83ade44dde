package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"regexp"
	"strconv"
	"sync"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/messages"
)

// Log paging: a page shows pageLines lines (by default the last ones), and
// the lines fragment answers at most fetchLines from ?from=.
const (
	pageLines  = 1000
	fetchLines = 5000
)

// errorLine matches the lines "jump to first error" looks for.
// It compiles on first use, not at every start of the binary (a CLI call).
var errorLine = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)\berror\b|\bfailed\b|\bfailure\b|\bfatal\b|\bpanic:|\bFAIL\b|^Traceback \(most recent call last\)`)
})

// logView is one log on the build page, paged: lines From…To-1 of it.
type logView struct {
	Log     *messages.Log
	Step    *messages.Step
	From    int64
	To      int64
	Lines   template.HTML
	Error   int64 // the line ?find=error found (0-based), -1 when none
	NoError bool  // ?find=error found none
	Base    string
}

// Tail reports whether the page shows the log's last lines, so that new
// lines belong after them.
func (l *logView) Tail() bool { return l.To >= l.Log.NumLines }

// Follow reports whether the log is still being written and shown at its end.
func (l *logView) Follow() bool { return !l.Log.Complete && l.Tail() }

// Page returns the URL of the page starting at line from (the tail when from < 0).
func (l *logView) Page(from int64) string {
	if from < 0 {
		return l.Base
	}
	return l.Base + "&from=" + strconv.FormatInt(from, 10)
}

func (l *logView) Prev() int64 { return max(0, l.From-pageLines) }
func (l *logView) Next() int64 { return l.To }

// LinesURL is where live.js fetches the lines after the shown ones.
func (l *logView) LinesURL() string { return l.Base + "&fragment=lines" }

// logBase is the build page URL showing step's log.
func logBase(builder string, number int32, step *messages.Step, log *messages.Log) string {
	return fmt.Sprintf("/builders/%s/builds/%d?step=%d&log=%s", url.PathEscape(builder), number, step.Number, url.QueryEscape(log.Slug))
}

// LogReader reads the lines of a log from its file (*logchunk.Store does).
type LogReader interface {
	Read(ctx context.Context, logid uint64, offset, limit int64, fn func(logchunk.Line) error) (logchunk.ReadResult, error)
}

// logLines returns n lines of log logid from first on, as Buildbot's
// logchunks hold them (each its stream in a stdio log, its text and a
// newline): none when there are no log files or the log has no file yet.
func logLines(ctx context.Context, logs LogReader, logid uint64, first, n int64) ([]byte, error) {
	if logs == nil {
		return nil, nil
	}
	var out []byte
	_, err := logs.Read(ctx, logid, first, n, func(l logchunk.Line) error {
		out = l.AppendContent(out)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return out, err
}

// window returns the lines first…first+n-1 of l as HTML, their number, and
// the error line among them highlighted.
func renderLines(ctx context.Context, logs LogReader, l *messages.Log, first, n, errLine int64) (template.HTML, int64, error) {
	if n <= 0 { // not first ≥ l.NumLines: a log being written has more lines in its file than in the state
		return "", 0, nil
	}
	content, err := logLines(ctx, logs, l.Id, first, n)
	if err != nil {
		return "", 0, fmt.Errorf("reading log %d: %w", l.Id, err)
	}
	var buf bytes.Buffer
	buf.Grow(len(content) + len(content)/2 + 64*int(n))
	st := plain
	num := first
	for len(content) > 0 {
		line := content
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line = content[:i]
			content = content[i+1:]
		} else {
			content = nil
		}
		writeLine(&buf, line, l.Type, num, num == errLine, &st)
		num++
	}
	return template.HTML(buf.String()), num - first, nil
}

// writeLine writes one log line: a span with the line's anchor L<n+1> and
// link, its stream (stdio logs: e stderr, h header) and the ANSI-rendered
// text.
func writeLine(buf *bytes.Buffer, line []byte, typ string, num int64, isErr bool, st *style) {
	class := ""
	if typ == "s" && len(line) > 0 {
		switch line[0] {
		case 'e':
			class = "e"
		case 'h':
			class = "h"
		}
		line = line[1:]
	}
	if isErr {
		class += " err"
	}
	n := strconv.FormatInt(num+1, 10)
	buf.WriteString(`<span id="L` + n + `"`)
	if class != "" {
		buf.WriteString(` class="` + class + `"`)
	}
	buf.WriteString(`><a href="#L` + n + `">` + n + `</a>`)
	writeANSI(buf, line, st)
	buf.WriteString("</span>\n")
}

// errorWords are what a line errorLine matches must contain (lower case):
// checking for them first spares the regular expression nearly every line.
var errorWords = [][]byte{[]byte("error"), []byte("fail"), []byte("fatal"), []byte("panic:"), []byte("traceback")}

// looksLikeError reports whether line (of a log, without its stream
// prefix) matches errorLine once its escape sequences are dropped. lower is
// scratch space.
func looksLikeError(line []byte, lower *[]byte) bool {
	*lower = (*lower)[:0]
	for _, c := range line {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		*lower = append(*lower, c)
	}
	hit := false
	for _, w := range errorWords {
		if bytes.Contains(*lower, w) {
			hit = true
			break
		}
	}
	if !hit {
		return false
	}
	if bytes.IndexByte(line, 0x1b) >= 0 || bytes.IndexByte(line, '\r') >= 0 {
		line = stripANSI(line)
	}
	return errorLine().Match(line)
}
