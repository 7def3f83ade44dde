package state

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// First returns the first row of table whose index matches args (for a
// unique index, the row), or nil.
func First(txn *memdb.Txn, table, index string, args ...any) proto.Message {
	raw, err := txn.First(table, index, args...)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(proto.Message)
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
