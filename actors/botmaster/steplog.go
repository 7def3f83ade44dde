package botmaster

import (
	"bytes"
	"context"
	"strings"
	"unicode/utf8"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// stepLog writes a step's log through the db service (db.WriteLog: to the
// log's file, never to the state), in pieces within
// state.MaxLogAppendBytes, cut after a newline where there is one.
type stepLog struct {
	r       *runner
	id      uint64
	pending bytes.Buffer // see later
}

// header writes text as header lines (the h stream), secret values
// redacted.
func (l *stepLog) header(text string) error {
	return l.write([]byte(headerLines(l.r.rt.Redactor().Redact(text))))
}

func headerLines(text string) string {
	if text == "" {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		b.WriteString("h" + line + "\n")
	}
	return b.String()
}

// later keeps s to be added with the step's finish, in the same write.
func (l *stepLog) later(s string) { l.pending.WriteString(s) }

// laterTake keeps what out holds, as later does, and empties out: when
// nothing is kept yet, by taking out's storage (a short command's whole
// output, gathered in out, is not copied again before its finish).
func (l *stepLog) laterTake(out *bytes.Buffer) {
	if l.pending.Len() == 0 {
		l.pending, *out = *out, l.pending
	} else {
		l.pending.Write(out.Bytes())
	}
	out.Reset()
}

// finish returns what later kept, as the AppendLog the step's finish
// carries (nil when nothing); what does not fit in one is written first.
func (l *stepLog) finish() (*messages.AppendLog, error) {
	s := strings.ToValidUTF8(l.pending.String(), "\uFFFD") // the one copy of what was kept
	l.pending.Reset()
	if len(s) > state.MaxLogAppendBytes {
		cut := len(s) - state.MaxLogAppendBytes
		if i := strings.IndexByte(s[cut:], '\n'); i >= 0 && cut+i+1 < len(s) {
			cut += i + 1
		}
		if err := l.write([]byte(s[:cut])); err != nil {
			return nil, err
		}
		s = s[cut:]
	}
	if s == "" {
		return nil, nil
	}
	return &messages.AppendLog{Logid: l.id, Content: s}, nil
}

// write writes b to the log, invalid UTF-8 replaced; it keeps none of b
// (the db service gets copies), so the caller may use it again.
func (l *stepLog) write(b []byte) error {
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD")) // a log holds text; invalid bytes cannot be stored
	}
	for len(b) > 0 {
		n := min(len(b), state.MaxLogAppendBytes)
		if n < len(b) {
			if i := bytes.LastIndexByte(b[:n], '\n'); i > 0 {
				n = i + 1
			}
		}
		if err := l.r.ctx.Err(); err != nil {
			return context.Cause(l.r.ctx)
		}
		if _, err := db.WriteLog(context.Background(), l.r.system, l.id, bytes.Clone(b[:n])); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
