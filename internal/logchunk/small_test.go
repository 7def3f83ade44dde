package logchunk

import (
	"bytes"
	"context"
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
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// smallStore opens a store with small logs in dir.
func smallStore(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	if o.SmallMax == 0 {
		o.SmallMax = DefaultSmallMax
	}
	st, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func closeStore(t testing.TB, st *Store) {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// smallLines is log logid's content: a few lines of stdio.
func smallLines(logid uint64) []string {
	return []string{fmt.Sprintf("hlog %d\n", logid), "orunning true\n", fmt.Sprintf("eexit %d\n", logid%3)}
}

// wantLog checks that log logid reads back as lines, by Read and by Raw.
func wantLog(t *testing.T, st *Store, logid uint64, lines []string) {
	t.Helper()
	got, _, res := readLines(t, st, logid, 0, -1)
	if !slices.Equal(got, lines) || res.End != int64(len(lines)) || len(res.Lost)+len(res.Damage) > 0 {
		t.Errorf("log %d: %q, %+v; want %q", logid, got, res, lines)
	}
	r, err := st.Raw(context.Background(), logid)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	raw, err := io.ReadAll(r)
	var want strings.Builder
	for _, l := range lines {
		want.WriteString(l[1:])
	}
	if err != nil || string(raw) != want.String() {
		t.Errorf("raw log %d: %q, %v; want %q", logid, raw, err, want.String())
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, smallDir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Small logs are records of a shared segment, not files: they read back
// (while written, closed, and after a restart), cannot be created twice,
// and a log that fills a chunk gets its file as before.
func TestSmallLogs(t *testing.T) {
	dir := t.TempDir()
	st := smallStore(t, dir, Options{ChunkSize: 256})
	for id := uint64(1); id <= 5; id++ {
		w, err := st.Create(id, Stdio)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range smallLines(id) {
			if _, err := w.AppendChunk([]byte(l)); err != nil {
				t.Fatal(err)
			}
		}
		if id == 1 {
			wantLog(t, st, id, smallLines(id)) // from the Writer's buffer
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	big := buildOutput(20) // more than a chunk of 256 bytes
	writeLog(t, st, 6, Stdio, big)
	writeLog(t, st, 7, Text, nil) // no lines

	check := func(st *Store) {
		t.Helper()
		for id := uint64(1); id <= 5; id++ {
			wantLog(t, st, id, smallLines(id))
			if _, err := os.Stat(st.Path(id)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("log %d has a file of its own: %v", id, err)
			}
			if _, err := st.Create(id, Stdio); !errors.Is(err, fs.ErrExist) {
				t.Errorf("log %d created again: %v", id, err)
			}
		}
		if _, err := os.Stat(st.Path(6)); err != nil {
			t.Errorf("log 6 (past a chunk) has no file: %v", err)
		}
		lines, _, _ := readLines(t, st, 6, 0, -1)
		if !slices.Equal(lines, big) {
			t.Errorf("log 6: %d lines, want %d", len(lines), len(big))
		}
		if lines, _, res := readLines(t, st, 7, 0, -1); len(lines) != 0 || res.Type != Text || res.End != 0 {
			t.Errorf("empty log 7: %q %+v", lines, res)
		}
		if ids, err := st.List(context.Background(), 0, 100); err != nil || !slices.Equal(ids, []uint64{1, 2, 3, 4, 5, 6, 7}) {
			t.Errorf("List: %v, %v", ids, err)
		}
		if ids, _ := st.List(context.Background(), 2, 3); !slices.Equal(ids, []uint64{3, 4, 5}) {
			t.Errorf("List after 2, 3 of them: %v", ids)
		}
		if rep, err := st.Recover(context.Background(), 3); err != nil || rep.Lines != 3 || rep.Torn != 0 {
			t.Errorf("Recover log 3: %+v, %v", rep, err)
		}
		if len(st.Damage()) > 0 {
			t.Errorf("damage: %v", st.Damage())
		}
	}
	check(st)
	if n := len(segments(t, dir)); n != 1 {
		t.Errorf("%d segments, want 1", n)
	}
	closeStore(t, st)

	st = smallStore(t, dir, Options{ChunkSize: 256})
	defer closeStore(t, st)
	check(st)
	writeLog(t, st, 8, Stdio, smallLines(8)) // a new segment after a restart
	wantLog(t, st, 8, smallLines(8))
	if n := len(segments(t, dir)); n != 2 {
		t.Errorf("%d segments after a restart and a log, want 2", n)
	}
}

// Flush and Sync make a log's lines durable before it is closed: it gets
// its own file.
func TestSmallLogFlushed(t *testing.T) {
	st := smallStore(t, t.TempDir(), Options{})
	defer closeStore(t, st)
	for id, sync := range map[uint64]func(*Writer) error{1: (*Writer).Flush, 2: (*Writer).Sync} {
		w, err := st.Create(id, Stdio)
		if err != nil {
			t.Fatal(err)
		}
		w.AppendChunk([]byte(smallLines(id)[0]))
		if err := sync(w); err != nil {
			t.Fatal(err)
		}
		w.AppendChunk([]byte(smallLines(id)[1]))
		w.AppendChunk([]byte(smallLines(id)[2]))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(st.Path(id)); err != nil {
			t.Errorf("log %d: %v", id, err)
		}
		wantLog(t, st, id, smallLines(id))
	}
}

// A segment cut inside its last record (a crash before the record's fsync
// returned) keeps every record before the cut; the cut one is reported,
// A small log's record is compressed with s2 (codec 2), not zstd: about
// an eighth of the CPU (BenchmarkCodecs/*/short). A segment written by an
// earlier release, its records in zstd (testdata/small-zstd.seg: logs 1
// and 2, shortLogContent and one line), still reads back.
func TestSmallCodecs(t *testing.T) {
	content := shortLogContent()
	lines := strings.SplitAfter(string(content), "\n")
	lines = lines[:len(lines)-1]

	dir := t.TempDir()
	st := smallStore(t, dir, Options{})
	writeLog(t, st, 1, Stdio, lines)
	closeStore(t, st)
	if got := recordCodecs(t, filepath.Join(dir, smallDir, "0000000001.seg")); !slices.Equal(got, []byte{codecS2}) {
		t.Errorf("codecs of the records written: %v, want [%d] (s2)", got, codecS2)
	}
	st = smallStore(t, dir, Options{})
	wantLog(t, st, 1, lines)
	closeStore(t, st)

	old := t.TempDir()
	seg, err := os.ReadFile(filepath.Join("testdata", "small-zstd.seg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(old, smallDir), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(old, smallDir, "0000000001.seg")
	if err := os.WriteFile(path, seg, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := recordCodecs(t, path); !slices.Contains(got, codecZstd) {
		t.Fatalf("testdata/small-zstd.seg: codecs %v, want zstd among them", got)
	}
	st = smallStore(t, old, Options{})
	defer closeStore(t, st)
	if d := st.Damage(); len(d) > 0 {
		t.Errorf("damage in testdata/small-zstd.seg: %v", d)
	}
	wantLog(t, st, 1, lines)
	wantLog(t, st, 2, []string{"otrue\n"})
}

// recordCodecs is the codec of each log record's chunk in segment file
// path, in order.
func recordCodecs(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var codecs []byte
	damage := decodeSegment(b, 1, func(kind byte, _ int, body []byte) {
		if kind == frameLog && len(body) > FileHeaderSize {
			h, err := parseChunkHeader(body[FileHeaderSize:])
			if err != nil {
				t.Fatal(err)
			}
			codecs = append(codecs, h.codec)
		}
	})
	if len(damage) > 0 {
		t.Fatalf("%s: %v", path, damage)
	}
	return codecs
}

// and its log is as if never written.
func TestSmallTornTail(t *testing.T) {
	dir := t.TempDir()
	st := smallStore(t, dir, Options{})
	for id := uint64(1); id <= 3; id++ {
		writeLog(t, st, id, Stdio, smallLines(id))
	}
	closeStore(t, st)
	seg := segments(t, dir)[0]
	b := fileBytes(t, seg)
	for cut := len(b) - 1; cut > len(b)-FrameHeaderSize-40; cut -= 7 {
		if err := os.WriteFile(seg, b[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		st := smallStore(t, dir, Options{})
		d := st.Damage()
		if len(d) != 1 || !d[0].Tail || !errors.Is(d[0], ErrCorrupt) {
			t.Errorf("cut at %d: damage %v, want a torn tail", cut, d)
		}
		wantLog(t, st, 1, smallLines(1))
		wantLog(t, st, 2, smallLines(2))
		if _, err := st.Read(context.Background(), 3, 0, -1, func(Line) error { return nil }); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cut at %d: the torn log reads: %v", cut, err)
		}
		// Its Writer can write it again (the state has it unfinished).
		writeLog(t, st, 3, Stdio, smallLines(3))
		wantLog(t, st, 3, smallLines(3))
		closeStore(t, st)
		for _, s := range segments(t, dir)[1:] {
			os.Remove(s)
		}
	}
}

// A damaged record loses its log only; a damaged frame header is passed
// over to the next sound frame. Damage found in a record later (at read)
// is the reader's, as in a file.
func TestSmallCorruptRecord(t *testing.T) {
	for _, c := range []struct {
		name string
		at   func(frameOff int) int // byte of log 2's frame to flip
	}{
		{"body", func(off int) int { return off + FrameHeaderSize + 3 }},
		{"frame_header", func(off int) int { return off + 9 }},
		{"magic", func(off int) int { return off }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			st := smallStore(t, dir, Options{})
			for id := uint64(1); id <= 3; id++ {
				writeLog(t, st, id, Stdio, smallLines(id))
			}
			_, off2, _, err := st.Locate(2)
			if err != nil {
				t.Fatal(err)
			}
			closeStore(t, st)
			seg := segments(t, dir)[0]
			b := fileBytes(t, seg)
			b[c.at(int(off2)-FrameHeaderSize)] ^= 0x40
			if err := os.WriteFile(seg, b, 0o644); err != nil {
				t.Fatal(err)
			}
			st = smallStore(t, dir, Options{})
			defer closeStore(t, st)
			if d := st.Damage(); len(d) != 1 || d[0].Tail || d[0].Offset != off2-FrameHeaderSize {
				t.Errorf("damage %v, want one record at %d", d, off2-FrameHeaderSize)
			}
			wantLog(t, st, 1, smallLines(1))
			wantLog(t, st, 3, smallLines(3))
			if _, _, _, err := st.Locate(2); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("log 2: %v", err)
			}
		})
	}

	// Damaged after the start: the read finds it in the record's chunk.
	dir := t.TempDir()
	st := smallStore(t, dir, Options{})
	defer closeStore(t, st)
	writeLog(t, st, 1, Stdio, smallLines(1))
	path, off, _, err := st.Locate(1)
	if err != nil {
		t.Fatal(err)
	}
	b := fileBytes(t, path)
	b[off+FileHeaderSize+ChunkHeaderLen] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	lines, _, res := readLines(t, st, 1, 0, -1)
	if len(lines) != 0 || len(res.Damage) != 1 || res.Damage[0].Tail || len(res.Lost) != 1 || res.Lost[0] != (Range{0, 3}) {
		t.Errorf("damaged record read: %q, %+v", lines, res)
	}
}

// Expiry is per segment: a segment goes when its last log is removed, and
// removals hold across a restart (removal frames).
func TestSmallExpiry(t *testing.T) {
	dir := t.TempDir()
	// Room for about four records per segment.
	st := smallStore(t, dir, Options{SegmentSize: SegmentHeaderSize + 4*(FrameHeaderSize+FileHeaderSize+ChunkHeaderLen+40)})
	for id := uint64(1); id <= 12; id++ {
		writeLog(t, st, id, Stdio, smallLines(id))
	}
	segs := segments(t, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want 3 or more", len(segs))
	}
	first := map[uint64]bool{}
	for id := uint64(1); id <= 12; id++ {
		if p, _, _, _ := st.Locate(id); p == segs[0] {
			first[id] = true
		}
	}
	ctx := context.Background()
	var firstIDs []uint64
	for id := range first {
		firstIDs = append(firstIDs, id)
	}
	slices.Sort(firstIDs)
	// All but one of the first segment's logs, and log 12 (last segment).
	if n, err := st.Remove(ctx, append(firstIDs[1:], 12)...); err != nil || n != len(firstIDs) {
		t.Fatalf("Remove: %d, %v", n, err)
	}
	if _, err := os.Stat(segs[0]); err != nil {
		t.Errorf("first segment gone with a log left in it: %v", err)
	}
	closeStore(t, st)

	st = smallStore(t, dir, Options{SegmentSize: 1 << 20})
	defer closeStore(t, st)
	for id := uint64(1); id <= 12; id++ {
		_, _, _, err := st.Locate(id)
		if gone := slices.Contains(firstIDs[1:], id) || id == 12; gone != errors.Is(err, fs.ErrNotExist) {
			t.Errorf("log %d after a restart: %v", id, err)
		}
	}
	if _, err := st.Remove(ctx, firstIDs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(segs[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("first segment left after its last log went: %v", err)
	}
	wantLog(t, st, 11, smallLines(11))
	if ids, _ := st.List(ctx, 0, 100); slices.ContainsFunc(ids, func(id uint64) bool { return id == 12 || first[id] }) {
		t.Errorf("List shows removed logs: %v", ids)
	}
}

// syncFS counts fsyncs of segments and holds the first one until released.
type syncFS struct {
	OS
	mu      sync.Mutex
	syncs   int
	held    chan struct{} // closed when the first fsync has begun
	release chan struct{}
}

func (f *syncFS) Create(name string) (File, error) {
	file, err := f.OS.Create(name)
	if err != nil {
		return nil, err
	}
	return &syncFile{File: file, fs: f}, nil
}

type syncFile struct {
	File
	fs *syncFS
}

func (f *syncFile) Sync() error {
	f.fs.mu.Lock()
	f.fs.syncs++
	first := f.fs.syncs == 1
	f.fs.mu.Unlock()
	if first {
		close(f.fs.held)
		<-f.fs.release
	}
	return f.File.Sync()
}

// Logs closed while an fsync runs share the next one (group commit), and
// none of their Closes returns before it.
func TestSmallGroupCommit(t *testing.T) {
	fsys := &syncFS{held: make(chan struct{}), release: make(chan struct{})}
	st := smallStore(t, t.TempDir(), Options{FS: fsys})
	defer closeStore(t, st)
	const n = 8
	var wg sync.WaitGroup
	closed := make(chan uint64, n)
	wg.Go(func() {
		writeLog(t, st, 1, Stdio, smallLines(1))
		closed <- 1
	})
	<-fsys.held
	for id := uint64(2); id <= n; id++ {
		wg.Go(func() {
			writeLog(t, st, id, Stdio, smallLines(id))
			closed <- id
		})
	}
	// Every record is written (in the index) and waits for its fsync.
	testkit.Retry(t, func() error {
		for id := uint64(1); id <= n; id++ {
			if _, ok := st.small.lookup(id); !ok {
				return fmt.Errorf("log %d not written yet", id)
			}
		}
		return nil
	})
	select {
	case id := <-closed:
		t.Fatalf("log %d closed before its record was synced", id)
	default:
	}
	close(fsys.release)
	wg.Wait()
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if fsys.syncs != 2 {
		t.Errorf("%d fsyncs for %d logs closed during the first, want 2", fsys.syncs, n)
	}
}

// A full disk when a small log is closed loses its lines, as a failed
// chunk write does; the next close writes again.
func TestSmallDiskFull(t *testing.T) {
	fsys := &faultFS{}
	st := smallStore(t, t.TempDir(), Options{FS: fsys})
	defer closeStore(t, st)
	writeLog(t, st, 1, Stdio, smallLines(1))
	for _, partial := range []bool{false, true} {
		fsys.set(func(f *faultFS) { f.full, f.partial = true, partial })
		w, err := st.Create(2, Stdio)
		if err != nil {
			t.Fatal(err)
		}
		w.AppendChunk([]byte(strings.Join(smallLines(2), "")))
		var lost *LostError
		if err := w.Close(); !errors.As(err, &lost) || !errors.Is(err, syscall.ENOSPC) || lost.Lines != (Range{0, 3}) {
			t.Errorf("close on a full disk: %v", err)
		}
		if got := w.Lost(); !slices.Equal(got, []Range{{0, 3}}) {
			t.Errorf("lost %v", got)
		}
		fsys.set(func(f *faultFS) { f.full = false })
	}
	writeLog(t, st, 2, Stdio, smallLines(2))
	wantLog(t, st, 1, smallLines(1))
	wantLog(t, st, 2, smallLines(2))
	if d := st.Damage(); len(d) != 0 {
		t.Errorf("damage %v", d)
	}
}

// segmentSeed is a segment of logs 1…3, log 2 removed, and a record of
// each golden log.
func segmentSeed(t testing.TB) []byte {
	dir := t.TempDir()
	st := smallStore(t, dir, Options{})
	for id := uint64(1); id <= 3; id++ {
		writeLog(t, st, id, Stdio, smallLines(id))
	}
	for i, g := range goldenLogs {
		writeLog(t, st, uint64(10+i), g.typ, g.lines)
	}
	if _, err := st.Remove(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	closeStore(t, st)
	return fileBytes(t, filepath.Join(dir, smallDir, fmt.Sprintf("%010d.seg", 1)))
}

// FuzzSegment decodes a segment of any bytes (with the checksums of its
// frames made right first when seal is set, so that the fuzzer reaches the
// bodies): never a panic; frames come in order, inside the segment, apart;
// the damage reported and the frames handed over cover it in order; and
// each log record read through the scanner gives what a file does.
func FuzzSegment(f *testing.F) {
	c := fuzzCodec(f)
	seed := segmentSeed(f)
	f.Add(seed, false)
	f.Add(seed[:len(seed)-5], false)
	f.Add(seed[:SegmentHeaderSize+FrameHeaderSize+3], true)
	bad := bytes.Clone(seed)
	bad[SegmentHeaderSize+FrameHeaderSize+30] ^= 1
	f.Add(bad, false)
	f.Add(bad, true)
	f.Fuzz(func(t *testing.T, b []byte, seal bool) {
		if seal {
			b = sealSegment(b)
		}
		end := 0
		damage := decodeSegment(b, 1, func(kind byte, off int, body []byte) {
			if off-FrameHeaderSize < end || off+len(body) > len(b) || !bytes.Equal(b[off:off+len(body)], body) {
				t.Fatalf("frame at %d (%d bytes) after %d, in %d bytes", off, len(body), end, len(b))
			}
			end = off + len(body)
			if kind == frameRemoved {
				if len(body)%8 != 0 {
					t.Fatalf("removal of %d bytes", len(body))
				}
				return
			}
			h, err := parseFileHeader(body)
			if err != nil {
				t.Fatalf("log record handed over: %v", err)
			}
			sc := newScanner(h.logid, bytes.NewReader(body), int64(len(body)), c, nil)
			if _, err := check(context.Background(), sc); err != nil {
				t.Fatal(err)
			}
		})
		for i, d := range damage {
			if d.Offset < 0 || d.Offset > int64(len(b)) || d.Tail && i != len(damage)-1 || !errors.Is(d, ErrCorrupt) {
				t.Fatalf("damage %d of %d: %+v in %d bytes", i, len(damage), d, len(b))
			}
		}
	})
}

// sealSegment returns b with the checksums of its segment header, and of
// each frame header and body it finds walking the lengths, made right.
func sealSegment(b []byte) []byte {
	b = bytes.Clone(b)
	if len(b) < SegmentHeaderSize {
		return b
	}
	reseal(b, 16)
	for off := SegmentHeaderSize; off+FrameHeaderSize <= len(b); {
		h := b[off : off+FrameHeaderSize]
		end := min(len(b), off+FrameHeaderSize+int(binary.LittleEndian.Uint32(h[8:])))
		binary.LittleEndian.PutUint32(h[12:], checksum(b[off+FrameHeaderSize:end]))
		reseal(h, 16)
		off = end
	}
	return b
}

// BenchmarkShortLog writes and closes short logs (a shell step's header,
// environment and a line of output: about 1.5 KiB), from 4 goroutines as a
// master finishing steps of 4 builds at once does, each with a file of its
// own (file), as small logs (small), or as small logs closed with
// CloseDeferred (deferred: the db service's way, their records riding in
// raft commands): CPU per log, fsyncs per log.
//
//	go test -run XXX -bench ShortLog -benchtime 2000x ./internal/logchunk/
func BenchmarkShortLog(b *testing.B) {
	content := shortLogContent()
	for _, c := range []struct {
		name     string
		smallMax int
		deferred bool
	}{{"file", -1, false}, {"small", DefaultSmallMax, false}, {"deferred", DefaultSmallMax, true}} {
		b.Run(c.name, func(b *testing.B) {
			fsys := &syncFS{held: make(chan struct{}), release: make(chan struct{})}
			close(fsys.release)
			st := smallStore(b, b.TempDir(), Options{SmallMax: c.smallMax, FS: countFS{fsys}})
			defer closeStore(b, st)
			var next atomic.Uint64
			cpu := testkit.CPUTime()
			b.ResetTimer()
			b.SetParallelism(2) // 4 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := next.Add(1)
					w, err := st.Create(id, Stdio)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := w.AppendChunk(content); err != nil {
						b.Fatal(err)
					}
					if c.deferred {
						_, err = w.CloseDeferred()
					} else {
						err = w.Close()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((testkit.CPUTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/log")
			fsys.mu.Lock()
			b.ReportMetric(float64(fsys.syncs)/float64(b.N), "fsyncs/log")
			fsys.mu.Unlock()
		})
	}
}

// shortLogContent is a shell step's log as BenchmarkShortLog writes it:
// its header, environment and exit code, about 1.5 KiB of stdio lines.
func shortLogContent() []byte {
	content := []byte("htrue\nh in dir /home/worker/build (timeout 1200 secs)\nh argv: [\"/bin/sh\" \"-c\" \"true\"]\nh environment:\n")
	for i := range 40 {
		content = fmt.Appendf(content, "h  VAR_%02d=/usr/local/lib/value/%d:/usr/lib\n", i, i*7919)
	}
	return append(content, "hprogram finished with exit code 0\nhelapsedTime=0.002\n"...)
}

// countFS is a syncFS whose first fsync is not held, counting the fsyncs
// of directories too.
type countFS struct{ *syncFS }

func (f countFS) SyncDir(dir string) error {
	f.mu.Lock()
	f.syncs++
	f.mu.Unlock()
	return f.OS.SyncDir(dir)
}

// TestKilledSmallWriters runs 4 writers of small logs in another process
// (TestKilledSmallWritersHelper), each printing a log's id once its Close
// has returned; the process is killed with SIGKILL among the closes.
// Every log whose close returned reads back whole after a restart.
func TestKilledSmallWriters(t *testing.T) {
	dir := t.TempDir()
	var closed []uint64
	killAfter(t, "TestKilledSmallWritersHelper", dir, func(line string) bool {
		if id, err := strconv.ParseUint(line, 10, 64); err == nil {
			closed = append(closed, id)
		}
		return len(closed) < 200
	})
	if len(closed) < 200 {
		t.Fatalf("the writers closed %d logs before they were killed", len(closed))
	}
	st := smallStore(t, dir, Options{})
	defer closeStore(t, st)
	for _, d := range st.Damage() {
		if !d.Tail {
			t.Errorf("damage other than a torn tail: %v", d)
		}
	}
	for _, id := range closed {
		wantLog(t, st, id, smallLines(id))
	}
}

// TestKilledSmallWritersHelper is the process TestKilledSmallWriters
// kills; it does nothing unless run by it.
func TestKilledSmallWritersHelper(t *testing.T) {
	dir := os.Getenv("LOGCHUNK_KILL_DIR")
	if dir == "" {
		t.Skip("run by TestKilledSmallWriters only")
	}
	st := smallStore(t, dir, Options{SegmentSize: 4096})
	var next atomic.Uint64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				id := next.Add(1)
				w, err := st.Create(id, Stdio)
				if err != nil {
					t.Error(err)
					return
				}
				w.AppendChunk([]byte(strings.Join(smallLines(id), "")))
				if err := w.Close(); err != nil {
					t.Error(err)
					return
				}
				if _, err := fmt.Fprintln(os.Stdout, id); err != nil {
					return // the test has gone
				}
			}
		})
	}
	wg.Wait()
}
