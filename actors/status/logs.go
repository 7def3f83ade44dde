package status

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// A log's contents are read from its file (rt.Logs) as they are sent, one
// chunk at a time: a reader costs the master a chunk or two and a write
// buffer, however long the log, and sees the lines of a log still being
// written up to the moment it asked. Lines the file lost (disk full, a
// crash, damage) keep their place: the first of each lost range says so,
// the others are empty; damage found on the way is recorded in the log's
// row (lost), through the db service.

// logWriteBuffer is what one reader of a log's contents holds to write.
const logWriteBuffer = 32 << 10

// logLines is how many lines log l has: its row's count, or what its
// writer has added, if more.
func logLines(rt *service.Runtime, l *messages.Log) int64 {
	n := l.NumLines
	if rt.Logs != nil {
		if w := rt.Logs.Writer(l.Id); w != nil {
			n = max(n, w.Lines())
		}
	}
	return n
}

// logContents serves logs/{id}/contents as Buildbot does: one logchunk of
// lines offset… (offset+limit-1, or to the end), stdio stream prefixes
// kept; 404 when the range is empty.
func logContents(rt *service.Runtime, w http.ResponseWriter, r *http.Request, _ *memdb.Txn, row proto.Message) {
	l := row.(*messages.Log)
	total := logLines(rt, l)
	first, last := int64(0), max(0, total-1)
	var errs []string
	for _, p := range []string{"offset", "limit"} {
		if !r.URL.Query().Has(p) {
			continue
		}
		n, err := strconv.ParseInt(r.URL.Query().Get(p), 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a whole number ≥ 0", p, r.URL.Query().Get(p)))
			continue
		}
		if p == "offset" {
			first = n
		} else {
			last = first + n - 1
		}
	}
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, "bad query: "+strings.Join(errs, "; "))
		return
	}
	if first > last {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no lines %d…%d in log %d", first, last, l.Id))
		return
	}
	out := &lazyResponse{w: w, ctype: "application/json", prefix: `{"logchunks":[{"content":"`}
	stdio := l.Type == "s"
	var raw, esc []byte
	write := func(line logchunk.Line) error {
		raw = line.AppendContent(raw[:0])
		esc = jsonString(raw, esc[:0])
		return out.write(esc)
	}
	err := readLines(rt, r, l, first, min(last+1, total), write, func(lost logchunk.Range) error {
		for n := lost.From; n < lost.To; n++ {
			line := logchunk.Line{N: n}
			if stdio {
				line.Stream = logchunk.Header
			}
			if n == lost.From {
				line.Text = []byte(lostNote(lost))
			}
			if err := write(line); err != nil {
				return err
			}
		}
		return nil
	})
	out.end(err, fmt.Sprintf(`","firstline":%d,"logid":%d}],"meta":{"total":1}}`+"\n", first, l.Id))
}

// lostNote is what the first line of a lost range reads.
func lostNote(r logchunk.Range) string {
	return fmt.Sprintf("[%s of this log were lost]", r)
}

// rawLog serves logs/{id}/raw as Buildbot does: the log's text as an
// attachment named builder_build_N_step_S_log_SLUG, text/html for an html
// log, else text/plain; a stdio log without its stream prefixes, after a
// header naming builder, build number and worker. Each lost range is one
// line saying so.
func rawLog(rt *service.Runtime, w http.ResponseWriter, r *http.Request, txn *memdb.Txn, row proto.Message) {
	serveRaw(rt, w, r, txn, row.(*messages.Log), false)
}

// rawInlineLog serves logs/{id}/raw_inline: the text of rawLog, to be shown
// by the browser rather than saved. An html log is sent as html in a
// sandbox (Content-Security-Policy: sandbox): it cannot run scripts or
// reach the master with the reader's credentials.
func rawInlineLog(rt *service.Runtime, w http.ResponseWriter, r *http.Request, txn *memdb.Txn, row proto.Message) {
	serveRaw(rt, w, r, txn, row.(*messages.Log), true)
}

func serveRaw(rt *service.Runtime, w http.ResponseWriter, r *http.Request, txn *memdb.Txn, l *messages.Log, inline bool) {
	step, _ := state.Lookup(txn, state.TableSteps, l.Stepid).(*messages.Step)
	var build *messages.Build
	var builder *messages.Builder
	var worker *messages.Worker
	if step != nil {
		build, _ = state.Lookup(txn, state.TableBuilds, step.Buildid).(*messages.Build)
	}
	if build != nil {
		builder, _ = state.Lookup(txn, state.TableBuilders, build.Builderid).(*messages.Builder)
		worker, _ = state.Lookup(txn, state.TableWorkers, build.Workerid).(*messages.Worker)
	}
	var name []string
	var head strings.Builder
	stdio := l.Type == "s"
	if builder != nil {
		name = append(name, builder.Name)
		if stdio {
			fmt.Fprintf(&head, "Builder: %s\n", builder.Name)
		}
	}
	if build != nil {
		name = append(name, "build", strconv.Itoa(int(build.Number)))
		if stdio {
			fmt.Fprintf(&head, "Build number: %d\n", build.Number)
		}
	}
	if worker != nil && stdio {
		fmt.Fprintf(&head, "Worker name: %s\n", worker.Name)
	}
	if step != nil {
		name = append(name, "step", step.Name)
	}
	name = append(name, "log", l.Slug)
	ctype := "text/plain"
	if l.Type == "h" {
		ctype = "text/html"
	}
	disposition := "attachment; filename=" + filename(strings.Join(name, "_"))
	if inline {
		disposition = "inline"
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if l.Type == "h" {
			w.Header().Set("Content-Security-Policy", "sandbox")
		}
	}
	w.Header().Set("Content-Disposition", disposition)
	out := &lazyResponse{w: w, ctype: ctype + "; charset=utf-8", prefix: head.String()}
	var buf []byte
	err := readLines(rt, r, l, 0, logLines(rt, l), func(line logchunk.Line) error {
		buf = append(append(buf[:0], line.Text...), '\n')
		return out.write(buf)
	}, func(lost logchunk.Range) error {
		return out.write([]byte(lostNote(lost) + "\n"))
	})
	out.end(err, "")
}

// readLines hands line the lines from … to-1 of log l that its file holds,
// in order, and lost the ranges among them that it does not hold. The
// contents of a log a horizon removed (type d) are no lines at all. Damage
// met is recorded in the log's row.
func readLines(rt *service.Runtime, r *http.Request, l *messages.Log, from, to int64, line func(logchunk.Line) error, lost func(logchunk.Range) error) error {
	if l.Type == state.LogTypeDeleted || from >= to {
		return nil
	}
	next := from
	gap := func(upTo int64) error {
		if upTo <= next {
			return nil
		}
		err := lost(logchunk.Range{From: next, To: upTo})
		next = upTo
		return err
	}
	var res logchunk.ReadResult
	var err error
	if rt.Logs != nil {
		res, err = rt.Logs.Read(r.Context(), l.Id, from, to-from, func(ln logchunk.Line) error {
			if err := gap(ln.N); err != nil {
				return err
			}
			next = ln.N + 1
			return line(ln)
		})
		if errors.Is(err, fs.ErrNotExist) {
			err = nil // a log whose lines were never written, or all lost
		}
	}
	if err != nil {
		return err
	}
	noteDamage(rt, l, res)
	return gap(to)
}

// noteDamage has the db service record in l's row the lines a read found
// damaged, unless the row has them already.
func noteDamage(rt *service.Runtime, l *messages.Log, res logchunk.ReadResult) {
	if len(res.Damage) == 0 || rt.System == nil || !l.Complete {
		return
	}
	lost := res.Lost
	// A damaged tail (a header, or a file that ends inside a chunk) loses
	// every line from it on, also past the range read.
	if d := res.Damage[len(res.Damage)-1]; d.Tail && d.Line < l.NumLines {
		lost = nil
		for _, r := range res.Lost {
			if r.To = min(r.To, d.Line); r.Len() > 0 {
				lost = append(lost, r)
			}
		}
		lost = append(lost, logchunk.Range{From: d.Line, To: l.NumLines})
	}
	var add []*messages.LineRange
	for _, r := range lost {
		if !coveredBy(r, l.Lost) {
			add = append(add, &messages.LineRange{From: r.From, To: r.To})
		}
	}
	if len(add) == 0 || len(add) > state.MaxLostRanges {
		return
	}
	rt.Log.Warn("log file damaged: lines lost", "logid", l.Id, "damage", res.Damage[0].Error(), "ranges", len(add))
	rt.System.Root.Send(db.PID(rt.System), &messages.Command{Kind: &messages.Command_SetLogLines{SetLogLines: &messages.SetLogLines{
		Logs: []*messages.LogLines{{Logid: l.Id, NumLines: l.NumLines, Lost: add}}}}})
}

// coveredBy reports whether the lines of r are all in rs.
func coveredBy(r logchunk.Range, rs []*messages.LineRange) bool {
	for _, x := range rs {
		if x.From <= r.From && r.To <= x.To {
			return true
		}
	}
	return false
}

// lazyResponse writes a streamed answer's status and headers at its first
// byte, so that an error found before anything was sent is still a 500.
type lazyResponse struct {
	w       http.ResponseWriter
	ctype   string
	prefix  string
	bw      *bufio.Writer
	started bool
}

func (o *lazyResponse) start() {
	o.started = true
	o.w.Header().Set("Content-Type", o.ctype)
	o.w.WriteHeader(http.StatusOK)
	o.bw = bufio.NewWriterSize(o.w, logWriteBuffer)
	_, _ = o.bw.WriteString(o.prefix)
}

func (o *lazyResponse) write(b []byte) error {
	if !o.started {
		o.start()
	}
	_, err := o.bw.Write(b)
	return err
}

// end ends the answer with suffix, or, when err came before anything was
// sent, answers 500; after that an error can only cut the answer short.
func (o *lazyResponse) end(err error, suffix string) {
	if err != nil && !o.started {
		o.w.Header().Del("Content-Disposition")
		writeError(o.w, http.StatusInternalServerError, err.Error())
		return
	}
	if !o.started {
		o.start()
	}
	if err == nil {
		_, _ = o.bw.WriteString(suffix)
	}
	_ = o.bw.Flush()
}

// jsonString appends the JSON string body of s (without quotes) to dst, as
// encoding/json writes it with HTML left unescaped: invalid UTF-8 becomes
// U+FFFD.
func jsonString(s, dst []byte) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c >= 0x20:
				dst = append(dst, c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\b':
				dst = append(dst, '\\', 'b')
			case c == '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}
