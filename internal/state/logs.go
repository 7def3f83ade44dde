package state

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
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

// LogLines returns lines first…last (0-based, inclusive; last < 0 means to
// the end) of log logid, each with its newline, from its chunks in
// logchunks in order. It reads only the chunks that hold those lines.
// Chunks compressed with gzip (1) or bzip2 (2) are decompressed; lz4 (3) is
// an error.
func LogLines(txn *memdb.Txn, logid uint64, first, last int64) ([]byte, error) {
	if first < 0 {
		first = 0
	}
	// The chunk holding line first is the last one starting at or before it.
	start := first
	if it, err := txn.ReverseLowerBound(TableLogChunks, IndexID, logid, first); err == nil {
		if raw := it.Next(); raw != nil && raw.(*messages.LogChunk).Logid == logid {
			start = raw.(*messages.LogChunk).FirstLine
		}
	}
	it, err := txn.LowerBound(TableLogChunks, IndexID, logid, start)
	if err != nil {
		return nil, err
	}
	var out []byte
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*messages.LogChunk)
		if c.Logid != logid || (last >= 0 && c.FirstLine > last) {
			break
		}
		content, err := chunkContent(c)
		if err != nil {
			return nil, err
		}
		n := c.FirstLine
		for len(content) > 0 {
			line := content
			if i := bytes.IndexByte(content, '\n'); i >= 0 {
				line = content[:i+1]
			}
			content = content[len(line):]
			if n >= first && (last < 0 || n <= last) {
				out = append(out, line...)
			}
			n++
		}
	}
	return out, nil
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
