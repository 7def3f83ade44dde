package logchunk

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// DefaultChunkSize is the raw size at which a Writer cuts a chunk, as
// Buildbot's logchunks. A Writer buffers one, a reader decodes one to start
// at any line; on real build output, compressing 180 KB whole instead of
// in 64 KiB chunks saves 4% (BenchmarkCodecs).
const DefaultChunkSize = 64 << 10

// Options tune a Store; the zero value is the default.
type Options struct {
	// ChunkSize is the raw size at which a chunk is cut (DefaultChunkSize
	// when 0; at most MaxChunkRaw). A longer line is cut into lines of at
	// most ChunkSize bytes with their stream prefix and newline.
	ChunkSize int
	// Level is the zstd level (zstd.SpeedFastest when 0: on build output
	// it is twice as fast as SpeedDefault for 1.5% more bytes; see
	// BenchmarkCodecs).
	Level zstd.EncoderLevel
	// FS is where Writers create and write files (OS when nil); readers
	// always read the operating system's files.
	FS FS
	// SmallMax is the largest raw size of a small log: one closed before
	// it filled a chunk, written as a record of a shared segment rather
	// than a file of its own (DefaultSmallMax when 0, at most ChunkSize;
	// negative: every log has its own file, created with its Writer).
	SmallMax int
	// SegmentSize is the size at which a segment of small logs is sealed
	// and the next one started (DefaultSegmentSize when 0).
	SegmentSize int64
}

// ErrOpen is returned for an operation that needs a log's Writer closed.
var ErrOpen = errors.New("log is open for writing")

// Store is the directory of log files. Its methods are safe for concurrent
// use; each Writer is used by one goroutine at a time, while any number of
// readers read.
type Store struct {
	dir          string
	chunkSize    int
	indexSpacing int64
	fs           FS
	codec        *codec
	small        *smallLogs
	bufs         sync.Pool // *[]byte: chunks being encoded and written

	mu      sync.Mutex         // guards writers, indexes, made, and directories being created or removed
	writers map[uint64]*Writer // open Writers, for readers to see their committed size
	indexes map[uint64]*index  // sparse indexes of the logs read or written lately
	// made holds the directories of log files this Store created or found
	// (a file's directory holds 4096 logs): a new file in one of them
	// needs no stat or mkdir. Remove forgets those it removes.
	made map[string]bool

	stats struct{ raw, stored, chunks, lost atomic.Int64 }
}

// Open opens (creating it if needed) the store in dir.
func Open(dir string, o Options) (*Store, error) {
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.ChunkSize < 16 || o.ChunkSize > MaxChunkRaw {
		return nil, fmt.Errorf("logchunk: chunk size %d, want 16…%d", o.ChunkSize, MaxChunkRaw)
	}
	if o.Level == 0 {
		o.Level = zstd.SpeedFastest
	}
	if o.FS == nil {
		o.FS = OS{}
	}
	if o.SmallMax == 0 {
		o.SmallMax = DefaultSmallMax
	}
	o.SmallMax = min(o.SmallMax, o.ChunkSize)
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < SegmentHeaderSize || o.SegmentSize > 1<<30 {
		return nil, fmt.Errorf("logchunk: segment size %d, want %d…%d", o.SegmentSize, SegmentHeaderSize, 1<<30)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("logchunk: %w", err)
	}
	small, err := openSmall(filepath.Join(dir, smallDir), o.FS, o.SmallMax, o.SegmentSize)
	if err != nil {
		return nil, err
	}
	c, err := newCodec(o.Level)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, chunkSize: o.ChunkSize, indexSpacing: indexSpacing, fs: o.FS, codec: c, small: small,
		writers: map[uint64]*Writer{}, indexes: map[uint64]*index{}, made: map[string]bool{}}
	s.bufs.New = func() any { return new([]byte) }
	return s, nil
}

// Close releases the compressor and syncs and closes the active segment of
// small logs; Writers still open must be closed first.
func (s *Store) Close() error {
	s.mu.Lock()
	n := len(s.writers)
	s.mu.Unlock()
	if n > 0 {
		return fmt.Errorf("logchunk: close: %d logs are open for writing", n)
	}
	s.codec.close()
	return s.small.close()
}

// Stats are a Store's counters since Open.
type Stats struct {
	RawBytes    int64 // bytes of lines written in chunks
	StoredBytes int64 // bytes those chunks take on disk, headers included
	Chunks      int64 // chunks written
	LostLines   int64 // lines dropped because a write failed
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{RawBytes: s.stats.raw.Load(), StoredBytes: s.stats.stored.Load(),
		Chunks: s.stats.chunks.Load(), LostLines: s.stats.lost.Load()}
}

// Path is the file of log logid (see the package doc).
func (s *Store) Path(logid uint64) string {
	hi, mid := shard(logid)
	return filepath.Join(s.dir, hi, mid, strconv.FormatUint(logid, 10)+".log")
}

func shard(logid uint64) (hi, mid string) {
	return strconv.FormatUint(logid>>24, 16), fmt.Sprintf("%03x", (logid>>12)&0xfff)
}

// writer returns the open Writer of logid, or nil.
func (s *Store) writer(logid uint64) *Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writers[logid]
}

// Writer returns the Writer open on log logid (Create's, until Close), or
// nil: the store keeps the Writers, so that whoever writes needs no list of
// its own.
func (s *Store) Writer(logid uint64) *Writer { return s.writer(logid) }

// Writing returns the ids of the logs with a Writer open, in increasing order.
func (s *Store) Writing() []uint64 {
	s.mu.Lock()
	ids := slices.Collect(maps.Keys(s.writers))
	s.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// Create starts log logid of type typ and returns its Writer. It fails if
// the log has a Writer, a file or a small log's record already. The file
// is created at the first chunk written (with small logs off, now); when it
// cannot be (disk full), the Writer goes on and tries again at each flush;
// lines it cannot write are counted lost.
func (s *Store) Create(logid uint64, typ Type) (*Writer, error) {
	if !typ.valid() {
		return nil, fmt.Errorf("logchunk: create log %d: type %q, want s, t or h", logid, byte(typ))
	}
	path := s.Path(logid)
	s.mu.Lock()
	if s.writers[logid] != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("logchunk: create log %d: %w", logid, ErrOpen)
	}
	w := newWriter(s, logid, typ, path)
	s.writers[logid] = w
	s.mu.Unlock()
	w.idx = s.index(logid, true)
	if s.small.max > 0 {
		// The file is made at the first chunk written, if any: a log
		// closed before is a small log.
		if _, ok := s.small.lookup(logid); ok {
			s.closed(w)
			return nil, fmt.Errorf("logchunk: create log %d: %w", logid, fs.ErrExist)
		}
		if _, err := os.Lstat(path); err == nil {
			s.closed(w)
			return nil, fmt.Errorf("logchunk: create log %d: %w", logid, fs.ErrExist)
		}
		return w, nil
	}
	// Create the file now (its header goes with the first chunk, in one
	// write): a file that exists is an error; any other failure is
	// retried at the next flush, as a failed write is.
	w.mu.Lock()
	err := w.create()
	w.mu.Unlock()
	if errors.Is(err, fs.ErrExist) {
		s.closed(w)
		return nil, fmt.Errorf("logchunk: create log %d: %w", logid, fs.ErrExist)
	}
	return w, nil
}

// closed forgets w once it is closed.
func (s *Store) closed(w *Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writers[w.logid] == w {
		delete(s.writers, w.logid)
	}
}

// createFile creates a log's file and its directories, under s.mu so that
// Remove does not remove the directories meanwhile. It returns the
// directories whose entries must be made durable for the file's to be: its
// own, and those of the ones it created (also when it fails half way).
func (s *Store) createFile(path string) (File, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dirs := []string{filepath.Dir(path)}
	if !s.made[dirs[0]] {
		for d := dirs[0]; d != s.dir; d = filepath.Dir(d) {
			if _, err := os.Stat(d); err == nil {
				break
			}
			dirs = append(dirs, filepath.Dir(d))
		}
		if err := s.fs.MkdirAll(dirs[0]); err != nil {
			return nil, dirs, err
		}
	}
	f, err := s.fs.Create(path)
	switch {
	case err == nil, errors.Is(err, fs.ErrExist):
		s.made[dirs[0]] = true
	default: // perhaps removed behind the Store's back: look again next time
		delete(s.made, dirs[0])
	}
	return f, dirs, err
}
