package logchunk

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
)

// chunkStarts returns the first line of each chunk of log logid's file.
func chunkStarts(t *testing.T, st *Store, logid uint64) []int64 {
	t.Helper()
	b := fileBytes(t, st.Path(logid))
	var starts []int64
	for off := FileHeaderSize; off < len(b); {
		h, err := parseChunkHeader(b[off:])
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, h.firstLine)
		off += ChunkHeaderLen + int(h.storedLen)
	}
	return starts
}

// Every window that starts or ends at, just before or just after a chunk
// boundary reads exactly its lines, with the sparse index (an entry every
// few chunks) and without.
func TestReadWindows(t *testing.T) {
	t.Run("walk", func(t *testing.T) { testReadWindows(t, indexSpacing) })
	t.Run("index", func(t *testing.T) { testReadWindows(t, 700) })
}

func testReadWindows(t *testing.T, spacing int64) {
	st := newStore(t, Options{ChunkSize: 512})
	st.indexSpacing = spacing
	lines := buildOutput(200)
	writeLog(t, st, 1, Stdio, lines)
	starts := chunkStarts(t, st, 1)
	if len(starts) < 10 {
		t.Fatalf("%d chunks; the test wants many", len(starts))
	}
	n := int64(len(lines))
	var edges []int64
	for _, s := range append(starts, 0, n) {
		edges = append(edges, s-1, s, s+1)
	}
	limits := []int64{-1, 0, 1, 2, 5, 17, n, n + 10}
	for _, off := range edges {
		if off < 0 {
			continue
		}
		for _, lim := range append(limits, edges...) {
			if lim < -1 {
				continue
			}
			got, nums, res := readLines(t, st, 1, off, lim)
			end := n
			if lim >= 0 {
				end = min(n, off+lim)
			}
			want := []string{}
			if off < end {
				want = lines[off:end]
			}
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("offset %d limit %d: got %d lines %q…, want %d", off, lim, len(got), got[:min(2, len(got))], len(want))
			}
			for i, num := range nums {
				if num != off+int64(i) {
					t.Fatalf("offset %d limit %d: line %d numbered %d", off, lim, i, num)
				}
			}
			if res.Lines != int64(len(got)) || len(res.Lost) > 0 || len(res.Damage) > 0 {
				t.Fatalf("offset %d limit %d: result %+v", off, lim, res)
			}
			if lim < 0 && res.End != n {
				t.Fatalf("offset %d to the end: End %d, want %d", off, res.End, n)
			}
		}
	}
}

func TestReadStopsAtCallbackError(t *testing.T) {
	st := newStore(t, Options{ChunkSize: 256})
	writeLog(t, st, 1, Stdio, buildOutput(100))
	stop := errors.New("enough")
	seen := 0
	_, err := st.Read(context.Background(), 1, 0, -1, func(Line) error {
		if seen++; seen == 30 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || seen != 30 {
		t.Errorf("err %v after %d lines, want %v after 30", err, seen, stop)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := st.Read(ctx, 1, 0, -1, func(Line) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("read with a cancelled context: %v", err)
	}
}

func TestReadBadInput(t *testing.T) {
	st := newStore(t, Options{})
	writeLog(t, st, 1, Text, []string{"a\n"})
	if _, err := st.Read(context.Background(), 1, -1, 5, func(Line) error { return nil }); err == nil || !strings.Contains(err.Error(), "offset -1") {
		t.Errorf("negative offset: %v", err)
	}
	if _, err := st.Read(context.Background(), 2, 0, 5, func(Line) error { return nil }); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("log without a file: %v, want fs.ErrNotExist", err)
	}
	if _, err := st.Raw(context.Background(), 2); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("raw of a log without a file: %v, want fs.ErrNotExist", err)
	}
}

func TestRaw(t *testing.T) {
	cases := []struct {
		name  string
		typ   Type
		lines []string
		want  string
	}{
		{"stdio drops streams", Stdio, []string{"hcmd\n", "oout\n", "eerr\n", "o\n"}, "cmd\nout\nerr\n\n"},
		{"text as is", Text, []string{"ocomes with o\n", "\n"}, "ocomes with o\n\n"},
		{"html as is", HTML, []string{"<b>x</b>\n"}, "<b>x</b>\n"},
		{"empty", Stdio, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newStore(t, Options{ChunkSize: 16})
			writeLog(t, st, 3, c.typ, c.lines)
			r, err := st.Raw(context.Background(), 3)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || string(got) != c.want {
				t.Errorf("raw %q, %v; want %q", got, err, c.want)
			}
			if res := r.Result(); res.Lines != int64(len(c.lines)) || res.End != int64(len(c.lines)) || res.Type != c.typ {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// Raw reads a large log in small reads, one chunk in memory at a time.
func TestRawLarge(t *testing.T) {
	st := newStore(t, Options{})
	lines := buildOutput(20000)
	writeLog(t, st, 9, Stdio, lines)
	r, err := st.Raw(context.Background(), 9)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var want strings.Builder
	for _, l := range lines {
		want.WriteString(l[1:])
	}
	got, err := io.ReadAll(io.LimitReader(struct{ io.Reader }{r}, 1<<30))
	if err != nil || string(got) != want.String() {
		t.Errorf("raw of %d bytes, %v; want %d bytes", len(got), err, want.Len())
	}
	if cap(r.sc.raw) > DefaultChunkSize || cap(r.sc.stored) > DefaultChunkSize {
		t.Errorf("buffers of %d and %d bytes, want one chunk", cap(r.sc.raw), cap(r.sc.stored))
	}
}

// The sparse index finds a window's first chunk without walking the file,
// and an index that no longer matches the file is dropped, not trusted.
func TestIndex(t *testing.T) {
	st := newStore(t, Options{ChunkSize: 256})
	st.indexSpacing = 1000
	lines := buildOutput(3000)
	writeLog(t, st, 1, Stdio, lines)
	x := st.index(1, false)
	if len(x.offs) < 10 {
		t.Fatalf("the writer noted %d chunks, want many", len(x.offs))
	}
	checkIndex(t, st, x)
	f, sc, err := st.open(1, Range{2900, 2901})
	if err != nil {
		t.Fatal(err)
	}
	sc.seek(2900)
	_ = f.Close()
	i := slices.Index(x.offs, sc.off)
	if i < 0 || x.lines[i] > 2900 || i+1 < len(x.lines) && x.lines[i+1] <= 2900 {
		t.Errorf("seek to line 2900 starts at byte %d (line %d), not at the last entry before it: %v", sc.off, sc.next, x.lines)
	}

	// Another file with other chunks takes the place of the log's.
	other := newStore(t, Options{ChunkSize: 700})
	writeLog(t, other, 1, Stdio, lines)
	if err := os.WriteFile(st.Path(1), fileBytes(t, other.Path(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _, res := readLines(t, st, 1, 2500, 10); !slices.Equal(got, lines[2500:2510]) || len(res.Damage) > 0 {
		t.Errorf("read through a stale index: %q, %+v", got, res)
	}
	checkIndex(t, st, st.index(1, false))
}

// checkIndex checks that every entry of x points at the header of a chunk
// of log 1 starting at its line, entries apart by the store's spacing.
func checkIndex(t *testing.T, st *Store, x *index) {
	t.Helper()
	b := fileBytes(t, st.Path(1))
	for i, off := range x.offs {
		if h, err := parseChunkHeader(b[off:]); err != nil || h.firstLine != x.lines[i] || (i > 0 && off-x.offs[i-1] < st.indexSpacing) {
			t.Fatalf("index entry %d (byte %d, line %d): %+v, %v", i, off, x.lines[i], h, err)
		}
	}
}
