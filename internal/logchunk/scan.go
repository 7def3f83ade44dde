package logchunk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrCorrupt is what every *CorruptError is (errors.Is).
var ErrCorrupt = errors.New("log file damaged")

// CorruptError says where a log's file is damaged and what was wrong.
type CorruptError struct {
	Logid  uint64
	Offset int64 // of the damaged header or chunk
	Line   int64 // first line lost there
	// Tail is true when nothing from Offset on can be read (the file ends
	// inside a chunk, as after a torn write, or a header is damaged); false
	// when only the chunk at Offset is (its lines are lost, the next chunks
	// are read).
	Tail bool
	Err  error
}

func (e *CorruptError) Error() string {
	what := "chunk"
	if e.Tail {
		what = "rest of the file"
	}
	return fmt.Sprintf("logchunk: log %d damaged at byte %d (line %d), %s unreadable: %v", e.Logid, e.Offset, e.Line, what, e.Err)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

func (e *CorruptError) Unwrap() error { return e.Err }

// scanner walks the chunks of a log's file, reading headers and, when
// asked, one payload at a time into buffers it reuses.
type scanner struct {
	logid uint64
	r     io.ReaderAt
	size  int64 // bytes that may be read
	typ   Type
	c     *codec
	idx   *index        // sparse index to use and add to; nil for none
	pend  *pendingLines // lines after the chunks (a Writer's buffer); nil for none

	off    int64 // of the next header
	next   int64 // line after the last chunk's
	cur    chunkHeader
	curOff int64
	tail   *CorruptError // once met, returned for ever

	hdr    [ChunkHeaderLen]byte
	stored []byte
	raw    []byte
}

// newScanner reads the file header of r (size bytes may be read). An empty
// file is a log without chunks; a damaged file header is a Tail
// *CorruptError, returned by the scanner's first header call.
func newScanner(logid uint64, r io.ReaderAt, size int64, c *codec, idx *index) *scanner {
	sc := &scanner{logid: logid, r: r, size: size, c: c, idx: idx, off: FileHeaderSize}
	if size == 0 {
		sc.off = 0
		return sc
	}
	var b [FileHeaderSize]byte
	n, err := r.ReadAt(b[:min(int64(len(b)), size)], 0)
	switch {
	case int64(n) < min(int64(len(b)), size):
		sc.tail = sc.damage(0, true, fmt.Errorf("read file header: %w", err))
	case size < FileHeaderSize:
		sc.tail = sc.damage(0, true, fmt.Errorf("file ends in its header (%d bytes)", size))
	default:
		h, err := parseFileHeader(b[:])
		switch {
		case err != nil:
			sc.tail = sc.damage(0, true, err)
		case h.logid != logid:
			sc.tail = sc.damage(0, true, fmt.Errorf("file header: log %d, want %d", h.logid, logid))
		default:
			sc.typ = h.typ
		}
	}
	return sc
}

func (sc *scanner) damage(off int64, tail bool, err error) *CorruptError {
	return &CorruptError{Logid: sc.logid, Offset: off, Line: sc.next, Tail: tail, Err: err}
}

// header returns the next chunk's header and moves past its payload. At
// the end it returns io.EOF; at damage that ends the readable part, a Tail
// *CorruptError (for ever after).
func (sc *scanner) header() (chunkHeader, error) {
	if sc.tail != nil {
		return chunkHeader{}, sc.tail
	}
	if sc.off >= sc.size {
		return chunkHeader{}, io.EOF
	}
	if sc.size-sc.off < ChunkHeaderLen {
		sc.tail = sc.damage(sc.off, true, fmt.Errorf("file ends inside a chunk header (%d of %d bytes)", sc.size-sc.off, ChunkHeaderLen))
		return chunkHeader{}, sc.tail
	}
	if _, err := sc.r.ReadAt(sc.hdr[:], sc.off); err != nil {
		sc.tail = sc.damage(sc.off, true, fmt.Errorf("read chunk header: %w", err))
		return chunkHeader{}, sc.tail
	}
	h, err := parseChunkHeader(sc.hdr[:])
	switch {
	case err != nil:
	case h.firstLine < sc.next:
		err = fmt.Errorf("chunk header: first line %d, but the previous chunk ends at line %d", h.firstLine, sc.next)
	case sc.size-sc.off-ChunkHeaderLen < int64(h.storedLen):
		err = fmt.Errorf("file ends inside a chunk (%d of %d payload bytes)", sc.size-sc.off-ChunkHeaderLen, h.storedLen)
	}
	if err != nil {
		sc.tail = sc.damage(sc.off, true, err)
		return chunkHeader{}, sc.tail
	}
	sc.cur, sc.curOff = h, sc.off
	sc.off += ChunkHeaderLen + int64(h.storedLen)
	sc.next = h.end()
	if sc.idx != nil {
		sc.idx.add(sc.curOff, h.firstLine)
	}
	return h, nil
}

// seek moves a fresh scanner to the last chunk its index knows at or
// before line, if that chunk's header is there as noted; else the index
// is reset and the scanner starts from the first chunk.
func (sc *scanner) seek(line int64) {
	if sc.idx == nil || sc.tail != nil {
		return
	}
	off, first, ok := sc.idx.find(line, sc.size-ChunkHeaderLen+1)
	if !ok || off <= sc.off {
		return
	}
	var b [ChunkHeaderLen]byte
	if _, err := sc.r.ReadAt(b[:], off); err == nil {
		if h, err := parseChunkHeader(b[:]); err == nil && h.firstLine == first {
			sc.off, sc.next = off, first
			return
		}
	}
	sc.idx.reset()
}

// payload reads, checks and decodes the lines of the chunk header last
// returned. The result is valid until the next call. Damage is a non-Tail
// *CorruptError: the caller may go on with the next header.
func (sc *scanner) payload() ([]byte, error) {
	h := sc.cur
	// Buffers grow to the largest chunk met (in pages: full chunks vary
	// by a few bytes), so that reading allocates once or twice.
	if cap(sc.stored) < int(h.storedLen) {
		sc.stored = make([]byte, (h.storedLen+4095)&^4095)
	}
	if cap(sc.raw) < int(h.rawLen) {
		sc.raw = make([]byte, 0, (h.rawLen+4095)&^4095)
	}
	stored := sc.stored[:h.storedLen]
	bad := func(err error) error {
		e := sc.damage(sc.curOff, false, err)
		e.Line = h.firstLine
		return e
	}
	if _, err := sc.r.ReadAt(stored, sc.curOff+ChunkHeaderLen); err != nil {
		return nil, bad(fmt.Errorf("read payload: %w", err))
	}
	raw, err := sc.c.decode(h, stored, sc.raw, sc.typ)
	if err != nil {
		return nil, bad(err)
	}
	return raw, nil
}

// chunk returns the next chunk that holds lines of window, decoded, and
// after the last one the lines of pend (as one more chunk). It notes in
// res the lines the file skips or loses in damaged chunks, the damage met,
// and End once at the end. ok is false at the end of what can be read, or
// past window.
func (sc *scanner) chunk(window Range, res *ReadResult) (h chunkHeader, raw []byte, ok bool) {
	for {
		prev := sc.next
		h, err := sc.header()
		if errors.Is(err, io.EOF) && sc.pend != nil {
			p := sc.pend
			sc.pend = nil
			res.lose(Range{prev, p.first}, window)
			sc.next = p.end
			if len(p.raw) == 0 {
				continue
			}
			return chunkHeader{firstLine: p.first, lines: uint32(bytes.Count(p.raw, []byte{'\n'}))}, p.raw, true
		}
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				res.Damage = append(res.Damage, ce)
			}
			res.End = sc.next
			return h, nil, false
		}
		res.lose(Range{prev, h.firstLine}, window)
		if h.end() <= window.From {
			continue
		}
		if h.firstLine >= window.To {
			return h, nil, false
		}
		raw, err := sc.payload()
		if err != nil {
			res.Damage = append(res.Damage, err.(*CorruptError))
			res.lose(Range{h.firstLine, h.end()}, window)
			continue
		}
		return h, raw, true
	}
}
