package state

import (
	"bytes"
	"cmp"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// applyAddLog adds a log called name, of type s, t or h, to step stepid;
// its slug must be new in the step.
func applyAddLog(txn *memdb.Txn, seq *ids, c *messages.AddLog) (*messages.CommandResult, error) {
	const kind = "add_log"
	if c == nil || c.Stepid == 0 || c.Name == "" || c.Slug == "" {
		return nil, bad(kind, "stepid, name and slug are required")
	}
	if c.Type != "s" && c.Type != "t" && c.Type != "h" {
		return nil, bad(kind, "type %q is not one of s, t, h", c.Type)
	}
	if err := checkStr(kind, "name", c.Name, MaxFieldBytes); err != nil {
		return nil, err
	}
	if err := checkStr(kind, "slug", c.Slug, MaxFieldBytes); err != nil {
		return nil, err
	}
	if err := exists(txn, kind, "step", TableSteps, c.Stepid); err != nil {
		return nil, err
	}
	logs, err := collect[*messages.Log](txn.Get(TableLogs, IndexStep, c.Stepid))
	if err != nil {
		return nil, err
	}
	for _, l := range logs {
		if l.Slug == c.Slug {
			return nil, bad(kind, "step %d already has a log with slug %q", c.Stepid, c.Slug)
		}
	}
	id, err := seq.nextID(txn, TableLogs)
	if err != nil {
		return nil, err
	}
	l := &messages.Log{Id: id, Name: c.Name, Slug: c.Slug, Stepid: c.Stepid, Type: c.Type}
	if err := txn.Insert(TableLogs, l); err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: id}, nil
}

// applyAppendLog appends content, ended with a newline if it is not, to
// unfinished log logid as one chunk of its next lines. Its result is the
// log's id and, in number, the chunk's first line.
func applyAppendLog(txn *memdb.Txn, seq *ids, c *messages.AppendLog) (*messages.CommandResult, error) {
	const kind = "append_log"
	if c == nil || c.Logid == 0 {
		return nil, bad(kind, "logid is required")
	}
	if c.Content == "" {
		return nil, bad(kind, "content is empty")
	}
	if err := checkStr(kind, "content", c.Content, MaxLogAppendBytes); err != nil {
		return nil, err
	}
	l, err := get[*messages.Log](txn, TableLogs, IndexID, c.Logid)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, bad(kind, "log %d does not exist", c.Logid)
	}
	if l.Complete {
		return nil, bad(kind, "log %d is finished", c.Logid)
	}
	content := c.Content
	if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	n := int64(strings.Count(content, "\n"))
	chunk := &messages.LogChunk{Logid: l.Id, FirstLine: l.NumLines, LastLine: l.NumLines + n - 1, Content: []byte(content)}
	if err := txn.Insert(TableLogChunks, chunk); err != nil {
		return nil, err
	}
	l = proto.Clone(l).(*messages.Log)
	l.NumLines += n
	if err := txn.Insert(TableLogs, l); err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: l.Id, Number: int32(chunk.FirstLine)}, nil
}

// applyFinishLog marks log logid complete (a complete log stays as it is).
func applyFinishLog(txn *memdb.Txn, _ *ids, c *messages.FinishLog) (*messages.CommandResult, error) {
	const kind = "finish_log"
	l, err := get[*messages.Log](txn, TableLogs, IndexID, c.GetLogid())
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, bad(kind, "log %d does not exist", c.GetLogid())
	}
	return &messages.CommandResult{Id: l.Id}, finishLog(txn, l)
}

// finishLog marks l complete, unless it is already.
func finishLog(txn *memdb.Txn, l *messages.Log) error {
	if l.Complete {
		return nil
	}
	l = proto.CloneOf(l)
	l.Complete = true
	return txn.Insert(TableLogs, l)
}

// applySetLogLines records what logs' files hold (SetLogLines).
func applySetLogLines(txn *memdb.Txn, _ *ids, c *messages.SetLogLines) (*messages.CommandResult, error) {
	const kind = "set_log_lines"
	if len(c.GetLogs()) == 0 {
		return nil, bad(kind, "logs is empty")
	}
	if len(c.GetLogs()) > MaxIDs {
		return nil, bad(kind, "logs has %d logs, limit %d", len(c.GetLogs()), MaxIDs)
	}
	for i, ll := range c.GetLogs() {
		l, err := get[*messages.Log](txn, TableLogs, IndexID, ll.GetLogid())
		if err != nil {
			return nil, err
		}
		where := fmt.Sprintf("%s: logs[%d]", kind, i)
		if l == nil {
			a, at := findArchivedLog(txn, ll.GetLogid())
			if a == nil {
				return nil, bad(kind, "logs[%d]: log %d does not exist", i, ll.GetLogid())
			}
			if err := setArchivedLogLines(txn, where, a, at, ll); err != nil {
				return nil, err
			}
			continue
		}
		if err := setLogLines(txn, where, l, ll); err != nil {
			return nil, err
		}
	}
	return &messages.CommandResult{}, nil
}

// setLogLines records what ll says l's file holds: l's line count becomes
// the larger of its own and ll's, and its lost lines those it had and
// those ll names, so that the order in which such records are applied
// does not matter. It removes l's rows in logchunks (left by an earlier
// release).
func setLogLines(txn *memdb.Txn, kind string, l *messages.Log, ll *messages.LogLines) error {
	nl, err := withLines(kind, l, ll)
	if err != nil {
		return err
	}
	if nl != l {
		if err := txn.Insert(TableLogs, nl); err != nil {
			return err
		}
	}
	return dropChunks(txn, l.Id)
}

// withLines returns l with what ll says its file holds (see setLogLines):
// l itself when that changes nothing, else a changed copy.
func withLines(kind string, l *messages.Log, ll *messages.LogLines) (*messages.Log, error) {
	if ll.GetNumLines() < 0 {
		return nil, bad(kind, "num_lines %d is negative", ll.GetNumLines())
	}
	if err := checkLost(kind, ll.GetLost(), ll.GetNumLines()); err != nil {
		return nil, err
	}
	if len(ll.GetRecord()) > MaxLogRecordBytes {
		return nil, bad(kind, "record of %d bytes, limit %d", len(ll.GetRecord()), MaxLogRecordBytes)
	}
	n := max(l.NumLines, ll.GetNumLines())
	lost := unionLost(l.Lost, ll.GetLost())
	if n != l.NumLines || !slices.EqualFunc(lost, l.Lost, func(a, b *messages.LineRange) bool { return proto.Equal(a, b) }) {
		l = proto.CloneOf(l)
		l.NumLines, l.Lost = n, lost
	}
	return l, nil
}

// setArchivedLogLines is setLogLines for archived log l, found at at.
func setArchivedLogLines(txn *memdb.Txn, kind string, l *messages.Log, at archivedAt, ll *messages.LogLines) error {
	nl, err := withLines(kind, l, ll)
	if err != nil || nl == l {
		return err
	}
	err = rewriteArchived(txn, map[uint64]*messages.ArchiveSegment{at.build: at.seg}, func(b *messages.ArchivedBuild) bool {
		for i, x := range b.Logs {
			if x.Id == l.Id {
				b.Logs[i] = nl
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return dropChunks(txn, l.Id)
}

// unionLost returns the lines of a and b (each in order and disjoint) as
// ranges in order, disjoint and not touching, at most MaxLostRanges (the
// last ones merged into one when there are more).
func unionLost(a, b []*messages.LineRange) []*messages.LineRange {
	if len(b) == 0 {
		return a
	}
	all := make([]*messages.LineRange, 0, len(a)+len(b))
	all = append(append(all, a...), b...)
	slices.SortFunc(all, func(x, y *messages.LineRange) int { return cmp.Compare(x.GetFrom(), y.GetFrom()) })
	var out []*messages.LineRange
	for _, r := range all {
		if n := len(out); n > 0 && r.GetFrom() <= out[n-1].To {
			out[n-1].To = max(out[n-1].To, r.GetTo())
			continue
		}
		out = append(out, &messages.LineRange{From: r.GetFrom(), To: r.GetTo()})
	}
	if len(out) > MaxLostRanges {
		out[MaxLostRanges-1].To = out[len(out)-1].To
		out = out[:MaxLostRanges]
	}
	return out
}

// LostLines is how many lines of l are lost.
func LostLines(l *messages.Log) int64 {
	n := int64(0)
	for _, r := range l.GetLost() {
		n += r.GetTo() - r.GetFrom()
	}
	return n
}

// MaxLostRanges bounds the lost ranges of one log.
const MaxLostRanges = 1000

// checkLost refuses lost ranges that are not in order, disjoint, not
// empty and within n lines, or more than MaxLostRanges.
func checkLost(kind string, lost []*messages.LineRange, n int64) error {
	if len(lost) > MaxLostRanges {
		return bad(kind, "lost has %d ranges, limit %d", len(lost), MaxLostRanges)
	}
	prev := int64(0)
	for i, r := range lost {
		if r.GetFrom() < prev || r.GetTo() <= r.GetFrom() || r.GetTo() > n {
			return bad(kind, "lost[%d] is lines %d…%d: ranges must be in order, disjoint, not empty and within the %d lines", i, r.GetFrom(), r.GetTo()-1, n)
		}
		prev = r.GetTo()
	}
	return nil
}

// setStepLogLines applies logs, what the files of logs of the steps ok
// accepts hold, before those logs are finished.
func setStepLogLines(txn *memdb.Txn, kind string, logs []*messages.LogLines, ok func(stepid uint64) bool) error {
	if len(logs) > MaxIDs {
		return bad(kind, "logs has %d logs, limit %d", len(logs), MaxIDs)
	}
	for i, ll := range logs {
		l, err := get[*messages.Log](txn, TableLogs, IndexID, ll.GetLogid())
		if err != nil {
			return err
		}
		where := fmt.Sprintf("%s: logs[%d]", kind, i)
		if l == nil || !ok(l.Stepid) {
			return bad(where, "log %d is not a log of the steps finished", ll.GetLogid())
		}
		if err := setLogLines(txn, where, l, ll); err != nil {
			return err
		}
	}
	return nil
}

// dropChunks removes log logid's rows in logchunks.
func dropChunks(txn *memdb.Txn, logid uint64) error {
	if raw, err := txn.First(TableLogChunks, IndexID+"_prefix", logid); err != nil || raw == nil {
		return err
	}
	chunks, err := collect[*messages.LogChunk](txn.Get(TableLogChunks, IndexID+"_prefix", logid))
	if err != nil {
		return err
	}
	for _, c := range chunks {
		if err := txn.Delete(TableLogChunks, c); err != nil {
			return err
		}
	}
	return nil
}

// LegacyLogs returns the ids of the logs that have rows in logchunks (an
// earlier release kept log contents there), in order.
func LegacyLogs(txn *memdb.Txn) ([]uint64, error) {
	var out []uint64
	next := uint64(0)
	for {
		it, err := txn.LowerBound(TableLogChunks, IndexID, next, int64(0))
		if err != nil {
			return nil, err
		}
		raw := it.Next()
		if raw == nil {
			return out, nil
		}
		id := raw.(*messages.LogChunk).Logid
		out = append(out, id)
		next = id + 1
	}
}

// LegacyChunks yields the contents of log logid's rows in logchunks, in
// order, decompressed: lines each ended by a newline. Chunks compressed
// with gzip (1) or bzip2 (2) are decompressed; lz4 (3) is an error.
func LegacyChunks(txn *memdb.Txn, logid uint64) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		it, err := txn.Get(TableLogChunks, IndexID+"_prefix", logid)
		if err != nil {
			yield(nil, err)
			return
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if !yield(chunkContent(raw.(*messages.LogChunk))) {
				return
			}
		}
	}
}

// chunkContent returns a chunk's content, decompressed.
func chunkContent(c *messages.LogChunk) ([]byte, error) {
	var r io.Reader
	switch c.Compressed {
	case 0:
		return c.Content, nil
	case 1:
		zr, err := gzip.NewReader(bytes.NewReader(c.Content))
		if err != nil {
			return nil, fmt.Errorf("state: log %d chunk at line %d: %w", c.Logid, c.FirstLine, err)
		}
		r = zr
	case 2:
		r = bzip2.NewReader(bytes.NewReader(c.Content))
	default:
		return nil, fmt.Errorf("state: log %d chunk at line %d: compression %d not supported", c.Logid, c.FirstLine, c.Compressed)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("state: log %d chunk at line %d: %w", c.Logid, c.FirstLine, err)
	}
	return b, nil
}
