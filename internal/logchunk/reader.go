package logchunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
)

// Line is one line of a log, as Read hands it over.
type Line struct {
	N      int64  // its number
	Stream Stream // in a stdio log; NoStream otherwise
	Text   []byte // without stream and newline; valid during the callback only
}

// AppendContent appends l as Buildbot's logchunks content holds it: its
// stream (stdio logs), its text and a newline.
func (l Line) AppendContent(dst []byte) []byte {
	if l.Stream != NoStream {
		dst = append(dst, byte(l.Stream))
	}
	return append(append(dst, l.Text...), '\n')
}

// ReadResult says what a read found besides the lines it handed over.
type ReadResult struct {
	Type  Type  // the log's type; 0 when its file holds no sound header
	Lines int64 // lines handed over
	// Lost are the lines of the range asked for that the file skips
	// (dropped when written: disk full) or holds in damaged chunks.
	Lost []Range
	// Damage is what was found damaged on the way, in file order; a Tail
	// one ends what can be read (End is then the line it starts at).
	Damage []*CorruptError
	// End, when the read reached the end of what can be read, is the line
	// after the last readable one; else -1. Lines from End on that the
	// log's metadata counts are either still in a Writer's buffer (an open
	// log) or lost (a finished one).
	End int64
}

func (r *ReadResult) lose(lines Range, window Range) {
	lines.From, lines.To = max(lines.From, window.From), min(lines.To, window.To)
	if lines.Len() <= 0 {
		return
	}
	if n := len(r.Lost); n > 0 && r.Lost[n-1].To == lines.From {
		r.Lost[n-1].To = lines.To
		return
	}
	r.Lost = append(r.Lost, lines)
}

// open opens log logid's file (or its small log's segment) for reading and
// returns a scanner limited to what a reader may see: the whole file or
// record, or what its Writer has committed
// and, after that, a copy of the Writer's buffered lines in window. A log
// whose Writer has not created the file yet has only those.
func (s *Store) open(logid uint64, window Range) (*os.File, *scanner, error) {
	limit, pend, typ := int64(-1), (*pendingLines)(nil), Type(0)
	if w := s.writer(logid); w != nil {
		limit, pend = w.snapshot(window) // before the file's size: the file holds at least that
		typ = w.typ
	}
	if loc, ok := s.small.lookup(logid); ok {
		// Written whole when its Writer closed: the record holds every
		// line the Writer's buffer had.
		f, r, err := s.small.open(logid, loc)
		if err != nil {
			return nil, nil, err
		}
		return f, newScanner(logid, r, int64(loc.n), s.codec, nil), nil
	}
	f, err := os.Open(s.Path(logid))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && limit >= 0 {
			sc := newScanner(logid, bytes.NewReader(nil), 0, s.codec, nil)
			sc.pend, sc.typ = pend, typ
			return nil, sc, nil
		}
		return nil, nil, fmt.Errorf("logchunk: log %d: %w", logid, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("logchunk: log %d: %w", logid, err)
	}
	size := st.Size()
	if limit >= 0 {
		size = min(size, limit)
	}
	sc := newScanner(logid, f, size, s.codec, s.index(logid, false))
	if pend != nil {
		sc.pend, sc.typ = pend, typ
	}
	return f, sc, nil
}

// Read hands fn the lines offset … offset+limit-1 of log logid (to the end
// when limit < 0) that its file holds, in order, decoding one chunk at a
// time. With a Writer open on the log it reads the lines added so far:
// the chunks written, then those in the Writer's buffer.
// It stops at fn's first error, which it returns. Damage in the file is
// not an error: it is reported in the result, with the lines it loses.
// A log without a file (and no Writer) is an error that is fs.ErrNotExist.
func (s *Store) Read(ctx context.Context, logid uint64, offset, limit int64, fn func(Line) error) (ReadResult, error) {
	if offset < 0 {
		return ReadResult{End: -1}, fmt.Errorf("logchunk: read log %d: offset %d < 0", logid, offset)
	}
	window := Range{offset, math.MaxInt64}
	if limit >= 0 && limit < math.MaxInt64-offset {
		window.To = offset + limit
	}
	f, sc, err := s.open(logid, window)
	if err != nil {
		return ReadResult{End: -1}, err
	}
	if f != nil {
		defer f.Close()
	}
	return scanLines(ctx, sc, window, fn)
}

// scanLines is Read on the chunks sc walks.
func scanLines(ctx context.Context, sc *scanner, window Range, fn func(Line) error) (ReadResult, error) {
	res := ReadResult{Type: sc.typ, End: -1}
	sc.seek(window.From)
	for window.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		h, raw, ok := sc.chunk(window, &res)
		if !ok {
			break
		}
		if err := eachLine(raw, h.firstLine, window, sc.typ, func(l Line) error {
			res.Lines++
			return fn(l)
		}); err != nil {
			return res, err
		}
	}
	return res, nil
}

// eachLine calls fn for the lines of raw (numbered from first) in window.
func eachLine(raw []byte, first int64, window Range, typ Type, fn func(Line) error) error {
	n := first
	for len(raw) > 0 && n < window.To {
		i := bytes.IndexByte(raw, '\n')
		if n >= window.From {
			l := Line{N: n, Text: raw[:i]}
			if typ == Stdio {
				l.Stream, l.Text = Stream(raw[0]), raw[1:i]
			}
			if err := fn(l); err != nil {
				return err
			}
		}
		raw = raw[i+1:]
		n++
	}
	return nil
}

// RawReader reads a log's text, as Buildbot's /raw serves it: its lines,
// without their stream in a stdio log. Lost lines are left out; Result
// tells which, once Read has returned io.EOF.
type RawReader struct {
	ctx context.Context
	f   *os.File
	sc  *scanner
	buf []byte // what is left of the chunk being read
	res ReadResult
}

// Raw opens log logid for reading its text, one chunk at a time. With a
// Writer open on the log it reads the lines added when Raw was called.
func (s *Store) Raw(ctx context.Context, logid uint64) (*RawReader, error) {
	f, sc, err := s.open(logid, Range{0, math.MaxInt64})
	if err != nil {
		return nil, err
	}
	return &RawReader{ctx: ctx, f: f, sc: sc, res: ReadResult{Type: sc.typ, End: -1}}, nil
}

// Read implements io.Reader.
func (r *RawReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.res.End >= 0 {
			return 0, io.EOF
		}
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		h, raw, ok := r.sc.chunk(Range{0, math.MaxInt64}, &r.res)
		if !ok {
			return 0, io.EOF
		}
		r.res.Lines += int64(h.lines)
		if r.sc.typ == Stdio {
			raw = stripStreams(raw)
		}
		r.buf = raw
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// stripStreams removes the stream that starts each line of raw, in place.
func stripStreams(raw []byte) []byte {
	out := raw[:0]
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		out = append(out, raw[1:i+1]...)
		raw = raw[i+1:]
	}
	return out
}

// Result is what the read found besides the text (see ReadResult); it is
// complete once Read has returned io.EOF.
func (r *RawReader) Result() ReadResult { return r.res }

// Close closes the file.
func (r *RawReader) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}
