package logchunk

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

var bigMiB = flag.Int("logchunk.bigmib", 1024, "MiB of output in the log that the read benchmarks share")

// TestMain removes the log the read benchmarks share.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if big.dir != "" {
		_ = os.RemoveAll(big.dir)
	}
	os.Exit(code)
}

// sampleLine is a line of output and its stream.
type sampleLine struct {
	stream Stream
	text   []byte
}

// realOutput is real build output (testdata/build-output.txt.gz: `go test
// -v` of two packages of this repository, then `go build -a -x -v` of this
// package): test results on stdout, the compiler's commands on stderr.
func realOutput(b testing.TB) []sampleLine {
	f, err := os.Open(filepath.Join("testdata", "build-output.txt.gz"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var out []sampleLine
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		s := Stderr
		for _, p := range []string{"=== ", "--- ", "    ", "PASS", "FAIL", "ok "} {
			if strings.HasPrefix(sc.Text(), p) {
				s = Stdout
			}
		}
		out = append(out, sampleLine{s, bytes.Clone(sc.Bytes())})
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

// outputs are the kinds of output the write benchmarks append.
func outputs(b testing.TB) map[string][]sampleLine {
	var short, long []sampleLine
	for _, l := range buildOutput(20000) { // ~50 bytes a line
		short = append(short, sampleLine{Stream(l[0]), []byte(strings.TrimSuffix(l[1:], "\n"))})
	}
	real := realOutput(b)
	for i := 0; i+40 <= len(real); i += 40 { // ~4 KiB a line
		var t []byte
		for _, l := range real[i : i+40] {
			t = append(append(t, l.text...), ' ')
		}
		long = append(long, sampleLine{Stdout, t})
	}
	return map[string][]sampleLine{"short": short, "long": long, "real": real}
}

func size(lines []sampleLine) int64 {
	n := int64(0)
	for _, l := range lines {
		n += int64(len(l.text)) + 2
	}
	return n
}

// BenchmarkAppend appends output to a log on disk, chunks written as they
// fill (no fsync): MB/s of output, and the ratio of the bytes on disk to
// the output's.
func BenchmarkAppend(b *testing.B) {
	outs := outputs(b)
	cases := []struct {
		name  string
		out   string
		level zstd.EncoderLevel
		chunk int
	}{
		{"short", "short", 0, 0},
		{"long", "long", 0, 0},
		{"real", "real", 0, 0},
		{"real/default", "real", zstd.SpeedDefault, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			lines := outs[c.out]
			st := newStore(b, Options{Level: c.level, ChunkSize: c.chunk})
			w, err := st.Create(1, Stdio)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size(lines))
			cpu := testkit.CPUTime()
			for b.Loop() {
				for _, l := range lines {
					if _, err := w.Append(l.stream, l.text); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			reportCPU(b, cpu, size(lines)*int64(b.N))
			s := st.Stats()
			b.ReportMetric(float64(s.RawBytes)/float64(s.StoredBytes), "ratio")
		})
	}
}

// BenchmarkCodecs compresses the real output in 64 KiB chunks with zstd
// at three levels, with gzip (deflate), the other codec the issue allows,
// and with s2, and with zstd whole (one chunk of 180 KB): MB/s and ratio,
// to choose a codec and a chunk size; and a step's short log
// (shortLogContent, the record of a small log) with zstd and with s2.
// (BenchmarkAppend repeats the sample in one log: its chunks must be
// smaller than the sample for its ratio to be true, which 64 KiB ones are.)
func BenchmarkCodecs(b *testing.B) {
	real := realOutput(b)
	// An input is the chunks compressed one by one, and their bytes.
	type input func() (chunks [][]byte, total int)
	cut := func(size int) input {
		return func() (chunks [][]byte, total int) {
			var cur []byte
			for _, l := range real {
				if len(cur)+len(l.text)+2 > size {
					chunks, cur = append(chunks, cur), nil
				}
				cur = append(append(append(cur, byte(l.stream)), l.text...), '\n')
				total += len(l.text) + 2
			}
			return append(chunks, cur), total
		}
	}
	short := func() ([][]byte, int) {
		s := shortLogContent()
		return [][]byte{s}, len(s)
	}
	type compressor func(dst, src []byte) []byte
	s2c := func(dst, src []byte) []byte { return s2.Encode(dst[:cap(dst)], src) }
	zstdAt := func(l zstd.EncoderLevel) compressor {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderCRC(false))
		if err != nil {
			b.Fatal(err)
		}
		return func(dst, src []byte) []byte { return enc.EncodeAll(src, dst[:0]) }
	}
	gz := func(level int) compressor {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, level)
		return func(dst, src []byte) []byte {
			buf.Reset()
			w.Reset(&buf)
			_, _ = w.Write(src)
			_ = w.Close()
			return append(dst[:0], buf.Bytes()...)
		}
	}
	for _, c := range []struct {
		name string
		c    compressor
		in   input
	}{
		{"zstd/fastest", zstdAt(zstd.SpeedFastest), cut(64 << 10)},
		{"zstd/default", zstdAt(zstd.SpeedDefault), cut(64 << 10)},
		{"zstd/better", zstdAt(zstd.SpeedBetterCompression), cut(64 << 10)},
		{"gzip/6", gz(6), cut(64 << 10)},
		{"gzip/9", gz(9), cut(64 << 10)},
		{"zstd/fastest/whole", zstdAt(zstd.SpeedFastest), cut(MaxChunkRaw)},
		{"s2", s2c, cut(64 << 10)},
		// A step's short log, as a small log's record holds it.
		{"zstd/fastest/short", zstdAt(zstd.SpeedFastest), short},
		{"s2/short", s2c, short},
	} {
		b.Run(c.name, func(b *testing.B) {
			chunks, total := c.in()
			b.SetBytes(int64(total))
			var dst []byte
			stored := 0
			cpu := testkit.CPUTime()
			for b.Loop() {
				stored = 0
				for _, ch := range chunks {
					dst = c.c(dst, ch)
					stored += len(dst)
				}
			}
			reportCPU(b, cpu, int64(total*b.N))
			b.ReportMetric(float64(total)/float64(stored), "ratio")
		})
	}
}

// big is the log the read benchmarks share, written once per process:
// bigMiB of the real output, repeated.
var big struct {
	once  sync.Once
	dir   string
	st    *Store
	lines int64
	raw   int64 // bytes of text (what Raw reads)
	file  int64
	err   error
}

func bigLog(b *testing.B) *Store {
	big.once.Do(func() {
		big.dir, big.err = os.MkdirTemp("", "logchunk-bench-")
		if big.err != nil {
			return
		}
		if big.st, big.err = Open(big.dir, Options{}); big.err != nil {
			return
		}
		w, err := big.st.Create(1, Stdio)
		if err != nil {
			big.err = err
			return
		}
		real := realOutput(b)
		for big.raw < int64(*bigMiB)<<20 {
			for _, l := range real {
				if _, err := w.Append(l.stream, l.text); err != nil {
					big.err = err
					return
				}
				big.raw += int64(len(l.text)) + 1
			}
		}
		big.lines = w.Lines()
		big.err = w.Close()
		if st, err := os.Stat(big.st.Path(1)); err == nil {
			big.file = st.Size()
		}
	})
	if big.err != nil {
		b.Fatal(big.err)
	}
	b.Logf("shared log: %d lines, %d MiB of text, %d MiB on disk", big.lines, big.raw>>20, big.file>>20)
	return big.st
}

// BenchmarkRead reads the shared log whole, as lines (Read) and as text
// (Raw), and reads its last 10 lines (found by walking the chunk headers).
func BenchmarkRead(b *testing.B) {
	st := bigLog(b)
	ctx := context.Background()
	b.Run("lines", func(b *testing.B) {
		b.SetBytes(big.raw)
		cpu := testkit.CPUTime()
		for b.Loop() {
			res, err := st.Read(ctx, 1, 0, -1, func(Line) error { return nil })
			if err != nil || res.Lines != big.lines {
				b.Fatalf("%d lines, %v", res.Lines, err)
			}
		}
		reportCPU(b, cpu, big.raw*int64(b.N))
	})
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(big.raw)
		cpu := testkit.CPUTime()
		for b.Loop() {
			r, err := st.Raw(ctx, 1)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || n != big.raw {
				b.Fatalf("%d bytes, %v", n, err)
			}
			_ = r.Close()
		}
		reportCPU(b, cpu, big.raw*int64(b.N))
	})
	for _, cold := range []bool{false, true} {
		name := "last-10-lines/indexed"
		if cold {
			name = "last-10-lines/cold" // as after a restart: the index is built on the way
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if cold {
					st.forget(1)
				}
				res, err := st.Read(ctx, 1, big.lines-10, 10, func(Line) error { return nil })
				if err != nil || res.Lines != 10 {
					b.Fatalf("%d lines, %v", res.Lines, err)
				}
			}
		})
	}
}

// BenchmarkReaders8 has 8 readers read the shared log at once (Raw) and
// reports how much the heap (sampled) and the process's resident memory
// (peak) grew meanwhile.
func BenchmarkReaders8(b *testing.B) {
	st := bigLog(b)
	ctx := context.Background()
	b.SetBytes(8 * big.raw)
	cpu := testkit.CPUTime()
	var heapGrowth, rssGrowth uint64
	for b.Loop() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap0 := ms.HeapInuse
		rss0 := procStatus(b, "VmRSS")
		resetPeakRSS()
		stop, sampled := make(chan struct{}), make(chan uint64)
		go func() {
			peak := uint64(0)
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				select {
				case <-stop:
					sampled <- peak
					return
				case <-t.C:
				}
			}
		}()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				r, err := st.Raw(ctx, 1)
				if err != nil {
					b.Error(err)
					return
				}
				defer r.Close()
				if n, err := io.Copy(io.Discard, r); err != nil || n != big.raw {
					b.Errorf("%d bytes, %v", n, err)
				}
			})
		}
		wg.Wait()
		close(stop)
		peak := <-sampled
		heapGrowth = max(heapGrowth, peak-min(peak, heap0))
		if hwm := procStatus(b, "VmHWM"); hwm > rss0 {
			rssGrowth = max(rssGrowth, hwm-rss0)
		}
	}
	reportCPU(b, cpu, 8*big.raw*int64(b.N))
	b.ReportMetric(float64(heapGrowth)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(rssGrowth)/(1<<20), "rss-MiB")
}

// procStatus returns a memory figure of /proc/self/status, in bytes.
func procStatus(b *testing.B, key string) uint64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(s)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("%s: %q: %v", key, v, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", key)
	return 0
}

// reportCPU reports n bytes handled in the CPU time since start.
func reportCPU(b *testing.B, start time.Duration, n int64) {
	if d := testkit.CPUTime() - start; d > 0 {
		b.ReportMetric(float64(n)/1e6/d.Seconds(), "MB/cpu-s")
	}
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
