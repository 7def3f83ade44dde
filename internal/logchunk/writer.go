package logchunk

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/klauspost/compress/s2"
)

// Writer appends lines to one log (Store.Create). It buffers one chunk
// (and lets the buffer go when Flush, Sync or Close write it); a chunk is
// written when the next line would not fit, and on Flush, Sync and Close.
//
// A failed write (disk full) does not stop it: the chunk is dropped, its
// lines are counted lost (Lost) so that later lines keep their numbers, any
// part of it that reached the file is cut off again, and the next chunk is
// written as if nothing happened. Flush, Sync and Close return that failure
// as a *LostError; Append does not (it only fails on bad input).
type Writer struct {
	s     *Store
	logid uint64
	typ   Type
	path  string
	idx   *index

	mu        sync.Mutex
	f         File         // nil until the file is created
	syncDirs  []string     // directories to fsync at the next Sync, once
	committed atomic.Int64 // file bytes that hold whole chunks; readers read no further
	dirty     bool         // the file may hold bytes past committed (a failed write)
	unsynced  bool         // written since the last fsync
	next      int64        // number of the next line
	first     int64        // number of the first line in raw
	pending   int          // lines in raw
	raw       []byte       // the chunk being filled
	lost      []Range
	closed    bool
}

// LostError reports lines that could not be written.
type LostError struct {
	Logid uint64
	Lines Range // empty when no line was waiting (the file header)
	Err   error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("logchunk: log %d: %s lost: %v", e.Logid, e.Lines, e.Err)
}

func (e *LostError) Unwrap() error { return e.Err }

// errClosed is returned by a Writer's methods after Close.
var errClosed = errors.New("writer is closed")

func newWriter(s *Store, logid uint64, typ Type, path string) *Writer {
	return &Writer{s: s, logid: logid, typ: typ, path: path}
}

// Append adds text, split at newlines, as lines of stream: a last line
// without a newline is a line too, and empty text adds none. Stream is
// required for a stdio log and must be NoStream otherwise. It returns the
// numbers of the lines added.
func (w *Writer) Append(stream Stream, text []byte) (Range, error) {
	ok := stream == NoStream
	if w.typ == Stdio {
		ok = stream.valid()
	}
	if !ok {
		return Range{}, fmt.Errorf("logchunk: log %d of type %c: stream %q not allowed", w.logid, w.typ, byte(stream))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return Range{}, fmt.Errorf("logchunk: log %d: %w", w.logid, errClosed)
	}
	first := w.next
	for len(text) > 0 {
		line, rest := text, []byte(nil)
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, rest = text[:i], text[i+1:]
		}
		addLine(w, stream, line)
		text = rest
	}
	return Range{first, w.next}, nil
}

// AppendChunk adds content in the form of Buildbot's logchunks: lines
// ended by newlines (a missing last newline is added), in a stdio log each
// started by its stream ('o', 'e' or 'h'). Content that breaks that form
// is refused whole. Like every method of the Writer, it keeps none of
// content.
func (w *Writer) AppendChunk(content []byte) (Range, error) { return appendChunk(w, content) }

// AppendChunkString is AppendChunk of content held in a string, which it
// does not copy first.
func (w *Writer) AppendChunkString(content string) (Range, error) { return appendChunk(w, content) }

func appendChunk[T string | []byte](w *Writer, content T) (Range, error) {
	if w.typ == Stdio {
		n := 0
		for line := range lines(content) {
			if len(line) == 0 || !Stream(line[0]).valid() {
				c := byte('\n') // an empty line starts with its newline
				if len(line) > 0 {
					c = line[0]
				}
				return Range{}, fmt.Errorf("logchunk: log %d: line %d of the content starts with %q, not a stream (o, e, h)", w.logid, n, c)
			}
			n++
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return Range{}, fmt.Errorf("logchunk: log %d: %w", w.logid, errClosed)
	}
	first := w.next
	// The lines take as much as content (a last newline may be added), up
	// to the end of the chunk being filled: a buffer that is a chunk
	// already is kept (flushLocked reuses it), not replaced by another.
	w.reserve(min(len(content)+1, w.s.chunkSize-len(w.raw)))
	for line := range lines(content) {
		if w.typ == Stdio {
			addLine(w, Stream(line[0]), line[1:])
		} else {
			addLine(w, NoStream, line)
		}
	}
	return Range{first, w.next}, nil
}

// lines yields the lines of content without their newlines, as
// bytes.Lines would with each newline cut off.
func lines[T string | []byte](content T) iter.Seq[T] {
	return func(yield func(T) bool) {
		for len(content) > 0 {
			line, rest := content, content[len(content):]
			if i := indexNewline(content); i >= 0 {
				line, rest = content[:i], content[i+1:]
			}
			if !yield(line) {
				return
			}
			content = rest
		}
	}
}

func indexNewline[T string | []byte](s T) int {
	switch s := any(s).(type) {
	case string:
		return strings.IndexByte(s, '\n')
	case []byte:
		return bytes.IndexByte(s, '\n')
	}
	panic("unreachable")
}

// addLine adds one line (text without its newline), cut into lines of at
// most the chunk size (prefix and newline included), at a UTF-8 boundary
// where there is one near.
func addLine[T string | []byte](w *Writer, stream Stream, text T) {
	prefix := 0
	if stream != NoStream {
		prefix = 1
	}
	limit := w.s.chunkSize - prefix - 1
	for {
		piece := text
		if len(piece) > limit {
			piece = text[:utf8Cut(text, limit)]
		}
		if len(w.raw)+prefix+len(piece)+1 > w.s.chunkSize {
			_ = w.flushLocked(true) // a failure is in w.lost
		}
		if w.pending == 0 {
			w.first = w.next
		}
		w.reserve(prefix + len(piece) + 1)
		if prefix > 0 {
			w.raw = append(w.raw, byte(stream))
		}
		w.raw = append(append(w.raw, piece...), '\n')
		w.pending++
		w.next++
		text = text[len(piece):]
		if len(text) == 0 {
			return
		}
	}
}

// utf8Cut returns where to cut b (longer than n) to keep at most n bytes:
// n, or up to 3 bytes less to not cut a character in two.
func utf8Cut[T string | []byte](b T, n int) int {
	for cut := n; cut > n-utf8.UTFMax && cut > 0; cut-- {
		if utf8.RuneStart(b[cut]) {
			return cut
		}
	}
	return n
}

// reserve grows raw to take n more bytes, as a small log needs: to one
// chunk at most, at least twice what it held (and 512 bytes).
func (w *Writer) reserve(n int) {
	if need := len(w.raw) + n; need > cap(w.raw) {
		w.raw = append(make([]byte, 0, min(w.s.chunkSize, max(need, 2*cap(w.raw), 512))), w.raw...)
	}
}

// Flush writes the lines buffered, as one chunk.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("logchunk: log %d: %w", w.logid, errClosed)
	}
	return w.flushLocked(false)
}

// flushLocked writes the buffered lines as a chunk. The buffer is kept for
// the next lines when full (keep: lines are streaming in), else let go, so
// that a log that waits holds no chunk buffer.
func (w *Writer) flushLocked(keep bool) error {
	at := w.committed.Load()
	if w.pending == 0 && at > 0 {
		return nil
	}
	bp := w.s.bufs.Get().(*[]byte)
	defer w.s.bufs.Put(bp)
	out := (*bp)[:0]
	if at == 0 {
		out = fileHeader{typ: w.typ, logid: w.logid}.append(out)
	}
	if w.pending > 0 {
		out = w.s.codec.appendChunk(out, codecZstd, w.first, w.pending, w.raw)
	}
	*bp = out
	lines, rawLen := Range{w.first, w.first + int64(w.pending)}, len(w.raw)
	w.raw, w.pending = w.raw[:0], 0
	if !keep {
		w.raw = nil
	}
	if err := w.write(out, at); err != nil {
		w.addLost(lines)
		return &LostError{Logid: w.logid, Lines: lines, Err: err}
	}
	if lines.Len() > 0 {
		w.idx.add(max(at, FileHeaderSize), lines.From)
		w.s.stats.chunks.Add(1)
		w.s.stats.raw.Add(int64(rawLen))
	}
	w.s.stats.stored.Add(int64(len(out)))
	return nil
}

// write writes b at offset at, the end of the whole chunks; on failure it
// cuts the file back to at (or tries again before the next write).
func (w *Writer) write(b []byte, at int64) error {
	if w.f == nil {
		if err := w.create(); err != nil {
			return err
		}
	}
	if w.dirty {
		if err := w.f.Truncate(at); err != nil {
			return fmt.Errorf("cut back to %d bytes after a failed write: %w", at, err)
		}
		w.dirty = false
	}
	w.unsynced = true
	if _, err := w.f.WriteAt(b, at); err != nil {
		w.dirty = w.f.Truncate(at) != nil
		return fmt.Errorf("write %d bytes at %d: %w", len(b), at, err)
	}
	w.committed.Store(at + int64(len(b)))
	return nil
}

// create creates the log's file (and its directories).
func (w *Writer) create() error {
	f, dirs, err := w.s.createFile(w.path)
	if len(dirs) > len(w.syncDirs) { // an earlier try may have made some
		w.syncDirs = dirs
	}
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	w.f = f
	return nil
}

func (w *Writer) addLost(r Range) {
	if r.Len() == 0 {
		return
	}
	w.s.stats.lost.Add(r.Len())
	if n := len(w.lost); n > 0 && w.lost[n-1].To == r.From {
		w.lost[n-1].To = r.To
		return
	}
	w.lost = append(w.lost, r)
}

// Sync writes the lines buffered and makes everything written durable
// (fsync of the file, and at the first Sync of the directories that hold
// it). The db service calls it before a step's result is acknowledged.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("logchunk: log %d: %w", w.logid, errClosed)
	}
	return w.syncLocked()
}

func (w *Writer) syncLocked() error {
	err := w.flushLocked(false)
	if w.f == nil || !w.unsynced {
		return err
	}
	if serr := w.f.Sync(); serr != nil {
		return errors.Join(err, fmt.Errorf("logchunk: log %d: fsync: %w", w.logid, serr))
	}
	w.unsynced = false
	for len(w.syncDirs) > 0 {
		if serr := w.s.fs.SyncDir(w.syncDirs[0]); serr != nil {
			return errors.Join(err, fmt.Errorf("logchunk: log %d: fsync directory: %w", w.logid, serr))
		}
		w.syncDirs = w.syncDirs[1:]
	}
	return err
}

// Close syncs (see Sync) and closes the file; the Writer cannot be used
// after. Closing twice does nothing.
func (w *Writer) Close() error {
	_, err := w.close(true)
	return err
}

// CloseDeferred is Close, except for a small log: its record is written to
// the segment and returned, and Close does not wait for an fsync. The
// caller makes it durable elsewhere (the db service: in the raft command
// that records the log) and, after a crash, hands it back to PutRecord;
// SyncRecords makes it durable in the segment. For a log that is not small
// (or whose record could not be written: see Lost) the record is nil and
// CloseDeferred is Close.
func (w *Writer) CloseDeferred() (record []byte, err error) {
	return w.close(false)
}

// Small reports whether the log is a small log if closed now, with no
// more lines: CloseDeferred then writes its record and syncs nothing.
func (w *Writer) Small() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.closed && w.small()
}

// close is Close, waiting for a small log's record to be durable when
// durable is set, else returning it.
func (w *Writer) close(durable bool) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, nil
	}
	if w.small() {
		rec, err := w.closeSmall(durable)
		w.closed, w.raw = true, nil
		w.s.closed(w)
		return rec, err
	}
	err := w.syncLocked()
	if w.f != nil {
		if w.dirty {
			if terr := w.f.Truncate(w.committed.Load()); terr != nil {
				err = errors.Join(err, fmt.Errorf("logchunk: log %d: cut back a failed write: %w", w.logid, terr))
			}
		}
		if cerr := w.f.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("logchunk: log %d: close: %w", w.logid, cerr))
		}
	}
	w.closed, w.raw = true, nil
	w.s.closed(w)
	return nil, err
}

// small is whether the log is a small log when closed now: no chunk
// written to a file of its own, its lines within the store's SmallMax.
func (w *Writer) small() bool {
	return w.s.small.max > 0 && w.f == nil && w.committed.Load() == 0 && len(w.raw) <= w.s.small.max
}

// closeSmall writes the log as a record of the small logs' segment (see
// the package doc) and waits until it is durable when durable is set; else
// it returns the record (its body: the log's file image).
func (w *Writer) closeSmall(durable bool) ([]byte, error) {
	var out []byte
	if durable {
		bp := w.s.bufs.Get().(*[]byte)
		defer w.s.bufs.Put(bp)
		out = (*bp)[:0]
		defer func() { *bp = out }()
	} else { // the caller keeps it: one allocation of its size
		out = make([]byte, 0, FrameHeaderSize+FileHeaderSize+ChunkHeaderLen+s2.MaxEncodedLen(len(w.raw)))
	}
	out = append(out, make([]byte, FrameHeaderSize)...)
	out = fileHeader{typ: w.typ, logid: w.logid}.append(out)
	if w.pending > 0 {
		out = w.s.codec.appendChunk(out, codecS2, w.first, w.pending, w.raw)
	}
	lines, rawLen := Range{w.first, w.first + int64(w.pending)}, len(w.raw)
	w.raw, w.pending = nil, 0
	written, err := w.s.small.add(w.logid, out, durable)
	if !written {
		w.addLost(lines)
		return nil, &LostError{Logid: w.logid, Lines: lines, Err: err}
	}
	if lines.Len() > 0 {
		w.s.stats.chunks.Add(1)
		w.s.stats.raw.Add(int64(rawLen))
	}
	w.s.stats.stored.Add(int64(len(out)))
	if err != nil {
		return nil, fmt.Errorf("logchunk: log %d: %w", w.logid, err)
	}
	if durable {
		return nil, nil
	}
	return out[FrameHeaderSize:], nil
}

// pendingLines are lines a Writer holds in its buffer, copied for a reader.
type pendingLines struct {
	first int64  // number of the first line in raw
	raw   []byte // lines as in a chunk
	end   int64  // the Writer's next line
}

// snapshot returns, at one instant, the file bytes that hold whole chunks
// and a copy of the buffered lines that fall in window.
func (w *Writer) snapshot(window Range) (int64, *pendingLines) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := &pendingLines{first: w.next, end: w.next}
	raw, n := w.raw, w.first
	for w.pending > 0 && len(raw) > 0 && n < window.From {
		raw = raw[bytes.IndexByte(raw, '\n')+1:]
		n++
	}
	cut, m := 0, n
	for w.pending > 0 && cut < len(raw) && m < window.To {
		cut += bytes.IndexByte(raw[cut:], '\n') + 1
		m++
	}
	if cut > 0 {
		p.first, p.raw = n, bytes.Clone(raw[:cut])
	}
	return w.committed.Load(), p
}

// Lines returns the number of lines added so far (lost ones included): the
// number the next line will have.
func (w *Writer) Lines() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// Lost returns the ranges of lines that could not be written, in order.
func (w *Writer) Lost() []Range {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Range(nil), w.lost...)
}
