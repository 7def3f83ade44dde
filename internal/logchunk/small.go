package logchunk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Small logs (see the package doc, "Small logs"): a log closed before it
// wrote a chunk of its own, whose lines fit in SmallMax bytes, is one
// record of a shared segment file. Records closed together share one
// fsync (group commit); a segment goes when no record in it is live.

// Segment format constants (see the package doc).
const (
	SegmentHeaderSize  = 20
	FrameHeaderSize    = 20
	DefaultSmallMax    = DefaultChunkSize
	DefaultSegmentSize = 8 << 20
	// maxFrameBody is the largest body a frame may declare: a log record
	// holds a file header and one chunk.
	maxFrameBody = FileHeaderSize + ChunkHeaderLen + MaxChunkRaw

	frameLog     = 'l' // body: a log's file image (file header, at most one chunk)
	frameRemoved = 'x' // body: ids of logs removed (uint64 each)

	smallDir = "small"
)

var (
	segmentMagic = [4]byte{'B', 'M', 'S', 'G'}
	frameMagic   = [4]byte{'B', 'M', 'S', 'R'}
)

// smallLoc is where a small log's record body is: its segment, offset and
// length (segments are far below 4 GiB). No pointers: the index is not
// scanned by the garbage collector.
type smallLoc struct{ seg, off, n uint32 }

// segment is one segment file.
type segment struct {
	seq  uint32
	live int   // records of logs not removed
	pins int   // removals here of logs whose records are in other segments still kept
	f    File  // open for appending: the active segment only
	size int64 // bytes written
	// pinnedBy counts, by segment, the removals there of logs whose
	// records are here: those segments are kept while this one is.
	pinnedBy map[uint32]int
}

// syncBatch is the writes one fsync makes durable (group commit).
type syncBatch struct {
	files   []File
	dir     bool   // a segment was created: fsync the segment directory too
	closing []File // sealed segments to close once synced
	done    bool
	err     error
}

// smallLogs is a Store's segment files and the index of the small logs in
// them.
type smallLogs struct {
	dir     string
	fs      FS
	max     int   // largest raw size of a small log; < 0: none
	segSize int64 // size at which a segment is sealed

	mu      sync.Mutex
	cond    sync.Cond
	idx     map[uint64]map[uint64]smallLoc // by logid>>12, then logid
	segs    map[uint32]*segment
	active  *segment
	nextSeq uint32
	syncing *syncBatch      // the batch being synced; nil when none
	batch   *syncBatch      // the batch writes join now; nil when none
	damage  []*CorruptError // found at open
}

// segmentPath is the file of segment seq.
func (sl *smallLogs) segmentPath(seq uint32) string {
	return filepath.Join(sl.dir, fmt.Sprintf("%010d.seg", seq))
}

// openSmall reads the segments in dir (DIR/small) into a fresh index. Every
// segment found is sealed; new records go to a new one.
func openSmall(dir string, fsys FS, smallMax int, segSize int64) (*smallLogs, error) {
	sl := &smallLogs{dir: dir, fs: fsys, max: smallMax, segSize: segSize,
		idx: map[uint64]map[uint64]smallLoc{}, segs: map[uint32]*segment{}, nextSeq: 1}
	sl.cond.L = &sl.mu
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("logchunk: small logs: %w", err)
	}
	var seqs []uint32
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		seq, err := strconv.ParseUint(name, 10, 32)
		if ok && err == nil && seq > 0 && e.Type().IsRegular() {
			seqs = append(seqs, uint32(seq))
		}
	}
	slices.Sort(seqs)
	var buf []byte
	for _, seq := range seqs {
		if buf, err = readFileInto(sl.segmentPath(seq), buf); err != nil {
			return nil, fmt.Errorf("logchunk: small logs: %w", err)
		}
		seg := &segment{seq: seq, size: int64(len(buf))}
		sl.segs[seq] = seg
		sl.nextSeq = seq + 1
		sl.damage = append(sl.damage, decodeSegment(buf, seq, func(kind byte, off int, body []byte) {
			switch kind {
			case frameLog:
				logid := binary.LittleEndian.Uint64(body[8:])
				sl.forget(logid)
				sl.put(logid, smallLoc{seg: seq, off: uint32(off), n: uint32(len(body))})
				seg.live++
			case frameRemoved:
				for b := body; len(b) >= 8; b = b[8:] {
					if from, ok := sl.forget(binary.LittleEndian.Uint64(b)); ok {
						sl.pin(from, seg)
					}
				}
			}
		})...)
	}
	for _, seg := range sl.segs {
		sl.maybeDrop(seg)
	}
	return sl, nil
}

// readFileInto reads the file at path into buf's storage.
func readFileInto(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return buf, err
	}
	if int64(cap(buf)) < st.Size() {
		buf = make([]byte, st.Size())
	}
	buf = buf[:st.Size()]
	n, err := io.ReadFull(f, buf)
	return buf[:n], err
}

// decodeSegment walks the frames of segment seq's bytes b and hands fn
// each sound one: its kind, the offset of its body in b, and the body (a
// log record's file header is checked). It returns the damage it met: a
// frame whose body is damaged is skipped; after a damaged frame header it
// looks for the next sound frame.
func decodeSegment(b []byte, seq uint32, fn func(kind byte, off int, body []byte)) []*CorruptError {
	var damage []*CorruptError
	bad := func(off int, tail bool, format string, args ...any) {
		damage = append(damage, &CorruptError{Offset: int64(off), Tail: tail,
			Err: fmt.Errorf("segment %d: "+format, append([]any{seq}, args...)...)})
	}
	if err := parseSegmentHeader(b, seq); err != nil {
		bad(0, true, "%v", err)
		return damage
	}
	for off := SegmentHeaderSize; off < len(b); {
		kind, n, err := parseFrameHeader(b[off:])
		if err == nil && len(b)-off-FrameHeaderSize < n {
			err = fmt.Errorf("file ends inside a frame (%d of %d body bytes)", len(b)-off-FrameHeaderSize, n)
		}
		if err != nil {
			next := nextFrame(b, off+1)
			bad(off, next < 0, "%v", err)
			if next < 0 {
				return damage
			}
			off = next
			continue
		}
		body := b[off+FrameHeaderSize : off+FrameHeaderSize+n]
		if binary.LittleEndian.Uint32(b[off+12:]) != checksum(body) {
			bad(off, false, "frame body: bad checksum")
		} else if err := checkFrameBody(kind, body); err != nil {
			bad(off, false, "%v", err)
		} else {
			fn(kind, off+FrameHeaderSize, body)
		}
		off += FrameHeaderSize + n
	}
	return damage
}

// nextFrame is the offset of the first sound frame header at or after
// from, or -1.
func nextFrame(b []byte, from int) int {
	for from < len(b) {
		i := bytes.Index(b[from:], frameMagic[:])
		if i < 0 {
			return -1
		}
		if _, n, err := parseFrameHeader(b[from+i:]); err == nil && len(b)-from-i-FrameHeaderSize >= n {
			return from + i
		}
		from += i + 1
	}
	return -1
}

func appendSegmentHeader(b []byte, seq uint32) []byte {
	start := len(b)
	b = append(b, segmentMagic[:]...)
	b = append(b, Version, 0, 0, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(seq))
	return binary.LittleEndian.AppendUint32(b, checksum(b[start:]))
}

func parseSegmentHeader(b []byte, seq uint32) error {
	if len(b) < SegmentHeaderSize {
		return fmt.Errorf("segment header: %d bytes, want %d", len(b), SegmentHeaderSize)
	}
	switch {
	case [4]byte(b[:4]) != segmentMagic:
		return fmt.Errorf("segment header: magic %q, want %q", b[:4], segmentMagic[:])
	case binary.LittleEndian.Uint32(b[16:]) != checksum(b[:16]):
		return fmt.Errorf("segment header: bad checksum")
	case b[4] != Version:
		return fmt.Errorf("segment header: version %d, want %d", b[4], Version)
	case b[5] != 0 || b[6] != 0 || b[7] != 0:
		return fmt.Errorf("segment header: reserved bytes are not 0")
	case binary.LittleEndian.Uint64(b[8:]) != uint64(seq):
		return fmt.Errorf("segment header: segment %d, want %d", binary.LittleEndian.Uint64(b[8:]), seq)
	}
	return nil
}

// putFrameHeader fills the FrameHeaderSize bytes before body in b.
func putFrameHeader(b []byte, kind byte) {
	body := b[FrameHeaderSize:]
	copy(b, frameMagic[:])
	b[4], b[5], b[6], b[7] = kind, 0, 0, 0
	binary.LittleEndian.PutUint32(b[8:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[12:], checksum(body))
	binary.LittleEndian.PutUint32(b[16:], checksum(b[:16]))
}

// parseFrameHeader checks a frame header on its own and returns its kind
// and body length.
func parseFrameHeader(b []byte) (kind byte, n int, err error) {
	if len(b) < FrameHeaderSize {
		return 0, 0, fmt.Errorf("frame header: %d bytes, want %d", len(b), FrameHeaderSize)
	}
	if [4]byte(b[:4]) != frameMagic {
		return 0, 0, fmt.Errorf("frame header: magic %q, want %q", b[:4], frameMagic[:])
	}
	if binary.LittleEndian.Uint32(b[16:]) != checksum(b[:16]) {
		return 0, 0, fmt.Errorf("frame header: bad checksum")
	}
	kind, n = b[4], int(binary.LittleEndian.Uint32(b[8:]))
	switch {
	case b[5] != 0 || b[6] != 0 || b[7] != 0:
		return 0, 0, fmt.Errorf("frame header: reserved bytes are not 0")
	case kind != frameLog && kind != frameRemoved:
		return 0, 0, fmt.Errorf("frame header: kind %q, want l or x", kind)
	case n > maxFrameBody:
		return 0, 0, fmt.Errorf("frame header: body of %d bytes, at most %d", n, maxFrameBody)
	}
	return kind, n, nil
}

// checkFrameBody checks what the index needs of a sound body: a log
// record's file header (its chunk is checked when read), a removal's
// length.
func checkFrameBody(kind byte, body []byte) error {
	if kind == frameRemoved {
		if len(body)%8 != 0 {
			return fmt.Errorf("removal frame: %d bytes, not a multiple of 8", len(body))
		}
		return nil
	}
	if _, err := parseFileHeader(body); err != nil {
		return fmt.Errorf("log record: %w", err)
	}
	return nil
}

// lookup returns where log logid's record is.
func (sl *smallLogs) lookup(logid uint64) (smallLoc, bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	loc, ok := sl.idx[logid>>12][logid]
	return loc, ok
}

func (sl *smallLogs) put(logid uint64, loc smallLoc) {
	m := sl.idx[logid>>12]
	if m == nil {
		m = map[uint64]smallLoc{}
		sl.idx[logid>>12] = m
	}
	m[logid] = loc
}

// forget drops logid from the index and returns the segment its record is
// in, which has one live record less.
func (sl *smallLogs) forget(logid uint64) (*segment, bool) {
	m := sl.idx[logid>>12]
	loc, ok := m[logid]
	if !ok {
		return nil, false
	}
	delete(m, logid)
	if len(m) == 0 {
		delete(sl.idx, logid>>12)
	}
	seg := sl.segs[loc.seg]
	if seg == nil {
		return nil, false
	}
	seg.live--
	return seg, true
}

// pin notes that segment by holds the removal of a log whose record is in
// from: by is kept while from is, or a restart would find the log again.
func (sl *smallLogs) pin(from, by *segment) {
	if from == by {
		return
	}
	if from.pinnedBy == nil {
		from.pinnedBy = map[uint32]int{}
	}
	from.pinnedBy[by.seq]++
	by.pins++
}

// maybeDrop removes seg if nothing in it is needed: no live record, no
// removal of a record kept elsewhere, and not the active segment. The
// segments its records pinned may go in turn.
func (sl *smallLogs) maybeDrop(seg *segment) {
	if seg.live > 0 || seg.pins > 0 || seg == sl.active || sl.segs[seg.seq] != seg {
		return
	}
	delete(sl.segs, seg.seq)
	_ = os.Remove(sl.segmentPath(seg.seq)) // failing, it is found again at the next start
	for seq, n := range seg.pinnedBy {
		if by := sl.segs[seq]; by != nil {
			by.pins -= n
			sl.maybeDrop(by)
		}
	}
}

// add writes frame (FrameHeaderSize bytes, then a log record's body: the
// log's file image) to the active segment and, when durable is set, waits
// until it is durable. written is false when the write failed (nothing of
// it is kept); an error with written true is a failed fsync.
func (sl *smallLogs) add(logid uint64, frame []byte, durable bool) (written bool, err error) {
	putFrameHeader(frame, frameLog)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if err := sl.addLocked(logid, frame); err != nil {
		return false, err
	}
	if !durable {
		return true, nil
	}
	return true, sl.wait(sl.join())
}

// addLocked writes frame (its header put) as log logid's record, in the
// index, under sl.mu. The record joins the batch the next fsync syncs.
func (sl *smallLogs) addLocked(logid uint64, frame []byte) error {
	seg, off, err := sl.write(frame)
	if err != nil {
		return err
	}
	if old, ok := sl.forget(logid); ok {
		sl.maybeDrop(old)
	}
	sl.put(logid, smallLoc{seg: seg.seq, off: uint32(off + FrameHeaderSize), n: uint32(len(frame) - FrameHeaderSize)})
	seg.live++
	sl.join()
	return nil
}

// redo writes frame as log logid's record unless the index has one for
// it (see Store.PutRecord).
func (sl *smallLogs) redo(logid uint64, frame []byte) error {
	putFrameHeader(frame, frameLog)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if _, ok := sl.idx[logid>>12][logid]; ok {
		return nil
	}
	return sl.addLocked(logid, frame)
}

// sync makes every record written so far durable: it waits for the
// batches they joined (the one being synced, and the next, synced now).
func (sl *smallLogs) sync() error {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	var errs []error
	for _, b := range []*syncBatch{sl.syncing, sl.batch} {
		if b != nil {
			errs = append(errs, sl.wait(b))
		}
	}
	return errors.Join(errs...)
}

// write appends frame to the active segment (made, or sealed and made
// anew, as needed) under sl.mu and returns where.
func (sl *smallLogs) write(frame []byte) (*segment, int64, error) {
	if a := sl.active; a != nil && a.size+int64(len(frame)) > sl.segSize && a.size > SegmentHeaderSize {
		sl.seal()
	}
	if sl.active == nil {
		if err := sl.create(); err != nil {
			return nil, 0, err
		}
	}
	seg := sl.active
	off := seg.size
	if _, err := seg.f.WriteAt(frame, off); err != nil {
		// What reached the file is cut off; failing that, the segment is
		// sealed (a start skips a torn frame).
		if seg.f.Truncate(off) != nil {
			sl.seal()
		}
		return nil, 0, fmt.Errorf("small logs: write %d bytes at %d of segment %d: %w", len(frame), off, seg.seq, err)
	}
	seg.size += int64(len(frame))
	return seg, off, nil
}

// create makes a new active segment.
func (sl *smallLogs) create() error {
	if err := sl.fs.MkdirAll(sl.dir); err != nil {
		return fmt.Errorf("small logs: %w", err)
	}
	seq := sl.nextSeq
	f, err := sl.fs.Create(sl.segmentPath(seq))
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			sl.nextSeq++ // left by a write that failed: never reused
		}
		return fmt.Errorf("small logs: create segment: %w", err)
	}
	sl.nextSeq++
	if _, err := f.WriteAt(appendSegmentHeader(nil, seq), 0); err != nil {
		_ = f.Close()
		_ = os.Remove(sl.segmentPath(seq))
		return fmt.Errorf("small logs: segment %d: write header: %w", seq, err)
	}
	sl.active = &segment{seq: seq, f: f, size: SegmentHeaderSize}
	sl.segs[seq] = sl.active
	sl.join().dir = true
	return nil
}

// seal ends the active segment: the batch writes join now closes it once
// synced; without live records it goes.
func (sl *smallLogs) seal() {
	a := sl.active
	b := sl.join()
	b.closing = append(b.closing, a.f)
	a.f, sl.active = nil, nil
	sl.maybeDrop(a)
}

// join returns the batch writes join now, with the active segment in it.
func (sl *smallLogs) join() *syncBatch {
	if sl.batch == nil {
		sl.batch = &syncBatch{}
	}
	b := sl.batch
	if a := sl.active; a != nil && !slices.Contains(b.files, a.f) {
		b.files = append(b.files, a.f)
	}
	return b
}

// wait returns once batch b is synced, syncing it when no other sync runs
// (one fsync for every write that joined b meanwhile). Called with sl.mu
// held.
func (sl *smallLogs) wait(b *syncBatch) error {
	for !b.done {
		if sl.syncing != nil || sl.batch != b {
			sl.cond.Wait()
			continue
		}
		sl.syncing, sl.batch = b, nil
		sl.mu.Unlock()
		err := b.sync(sl.fs, sl.dir)
		sl.mu.Lock()
		b.done, b.err, sl.syncing = true, err, nil
		sl.cond.Broadcast()
	}
	return b.err
}

// sync makes b durable and closes the sealed segments in it (seal joins a
// segment's file to b before it is closing: b.files holds it).
func (b *syncBatch) sync(fsys FS, dir string) error {
	var errs []error
	for _, f := range b.files {
		if err := f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("small logs: fsync: %w", err))
		}
	}
	if b.dir {
		if err := fsys.SyncDir(dir); err != nil {
			errs = append(errs, fmt.Errorf("small logs: fsync directory: %w", err))
		}
	}
	for _, f := range b.closing {
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("small logs: close segment: %w", err))
		}
	}
	return errors.Join(errs...)
}

// remove drops logs logids from the index and records that they went in a
// removal frame (not synced: one lost to a crash leaves a record that a
// sweep finds again). It returns those of logids that were not small logs;
// the segments left without live records go.
func (sl *smallLogs) remove(logids []uint64) (rest []uint64, err error) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	frame := make([]byte, FrameHeaderSize, FrameHeaderSize+8*len(logids))
	var from []*segment // of each log removed
	for _, id := range logids {
		if seg, ok := sl.forget(id); ok {
			frame = binary.LittleEndian.AppendUint64(frame, id)
			from = append(from, seg)
		} else {
			rest = append(rest, id)
		}
	}
	if len(from) == 0 {
		return rest, nil
	}
	putFrameHeader(frame, frameRemoved)
	by, _, err := sl.write(frame)
	if by != nil {
		for _, seg := range from {
			sl.pin(seg, by)
		}
	}
	for _, seg := range from {
		sl.maybeDrop(seg)
	}
	return rest, err
}

// ids returns the small logs' ids above after, at most limit, in order.
func (sl *smallLogs) ids(after uint64, limit int) []uint64 {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	shards := make([]uint64, 0, len(sl.idx))
	for sh := range sl.idx {
		if sh >= after>>12 {
			shards = append(shards, sh)
		}
	}
	slices.Sort(shards)
	var out []uint64
	for _, sh := range shards {
		if len(out) >= limit {
			break
		}
		start := len(out)
		for id := range sl.idx[sh] {
			if id > after {
				out = append(out, id)
			}
		}
		slices.Sort(out[start:])
	}
	return out[:min(len(out), limit)]
}

// open opens the segment holding loc for reading.
func (sl *smallLogs) open(logid uint64, loc smallLoc) (*os.File, io.ReaderAt, error) {
	f, err := os.Open(sl.segmentPath(loc.seg))
	if err != nil {
		return nil, nil, fmt.Errorf("logchunk: log %d: %w", logid, err)
	}
	return f, io.NewSectionReader(f, int64(loc.off), int64(loc.n)), nil
}

// close syncs and closes the active segment (and any sealed one not
// closed yet).
func (sl *smallLogs) close() error {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.active != nil {
		sl.seal()
	}
	if sl.batch == nil {
		return nil
	}
	return sl.wait(sl.batch)
}

// Damage returns what was found damaged in the small logs' segments when
// the Store was opened: records skipped, or bytes without a sound frame (a
// torn tail after a crash). The logs lost there are those a record was
// being written for, which no close acknowledged.
func (s *Store) Damage() []*CorruptError {
	return slices.Clone(s.small.damage)
}
