package logchunk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// memStore is a store in memory (/dev/shm) where there is one: the tests
// that recover a file a thousand times wait on fsync otherwise.
func memStore(t *testing.T) *Store {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "logchunk-test-")
	if err != nil {
		return newStore(t, Options{})
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// damaged makes b the file of log 1 in st.
func damaged(t *testing.T, st *Store, b []byte) *Store {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(st.Path(1)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Path(1), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return st
}

// sample writes a small stdio log of several chunks and returns its lines,
// its file and the byte offset and first line of each chunk (plus the
// file's end and line count).
func sample(t *testing.T) (lines []string, file []byte, offs, firsts []int64) {
	t.Helper()
	st := newStore(t, Options{ChunkSize: 128})
	lines = buildOutput(24)
	writeLog(t, st, 1, Stdio, lines)
	file = fileBytes(t, st.Path(1))
	for off := int64(FileHeaderSize); off < int64(len(file)); {
		h, err := parseChunkHeader(file[off:])
		if err != nil {
			t.Fatal(err)
		}
		offs, firsts = append(offs, off), append(firsts, h.firstLine)
		off += ChunkHeaderLen + int64(h.storedLen)
	}
	if len(offs) < 4 {
		t.Fatalf("%d chunks, want several", len(offs))
	}
	return lines, file, append(offs, int64(len(file))), append(firsts, int64(len(lines)))
}

// A file cut at any byte serves every whole chunk before the cut and
// reports the rest as a damaged tail; Recover cuts it back to the last
// whole chunk, after which it reads clean.
func TestTruncatedAtEveryByte(t *testing.T) {
	lines, file, offs, firsts := sample(t)
	ro := memStore(t)
	for cut := range len(file) + 1 {
		st := damaged(t, ro, file[:cut])
		// whole: the chunks that end at or before the cut.
		whole := 0
		for whole+1 < len(offs) && offs[whole+1] <= int64(cut) {
			whole++
		}
		end, size := firsts[whole], offs[whole]
		if cut < FileHeaderSize {
			size = 0
		}
		got, _, res := readLines(t, st, 1, 0, -1)
		if !slices.Equal(got, lines[:end]) || res.End != end || len(res.Lost) > 0 {
			t.Fatalf("cut at %d: read %d lines, end %d, lost %v; want %d lines", cut, len(got), res.End, res.Lost, end)
		}
		atBoundary := int64(cut) == size
		if atBoundary != (len(res.Damage) == 0) || !atBoundary && (!res.Damage[0].Tail || res.Damage[0].Offset != size || res.Damage[0].Line != end) {
			t.Fatalf("cut at %d: damage %v; want a tail at byte %d, line %d, unless the cut is there", cut, res.Damage, size, end)
		}
		raw, err := st.Raw(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		text, err := io.ReadAll(raw)
		if err != nil || raw.Result().End != end || len(raw.Result().Damage) != len(res.Damage) {
			t.Fatalf("cut at %d: raw read %d bytes, %v, %+v", cut, len(text), err, raw.Result())
		}
		_ = raw.Close()
		rep, err := st.Recover(context.Background(), 1)
		if err != nil || rep.Lines != end || rep.Size != size || rep.Torn != int64(cut)-size {
			t.Fatalf("cut at %d: recover %+v, %v; want %d lines, %d bytes kept", cut, rep, err, end, size)
		}
		if b := fileBytes(t, st.Path(1)); !bytes.Equal(b, file[:size]) {
			t.Fatalf("cut at %d: recovered file has %d bytes, want the first %d", cut, len(b), size)
		}
		if got, _, res := readLines(t, st, 1, 0, -1); len(got) != int(end) || len(res.Damage) > 0 {
			t.Fatalf("cut at %d: after recover read %d lines, %+v", cut, len(got), res)
		}
	}
}

// Any one byte changed is detected: a changed payload loses its chunk
// only, a changed header everything from it on. What is served is right,
// and served, lost and tail lines cover the log once.
func TestFlippedAtEveryByte(t *testing.T) {
	lines, file, offs, firsts := sample(t)
	ro := memStore(t)
	for at := range file {
		b := bytes.Clone(file)
		b[at] ^= 0x20
		st := damaged(t, ro, b)
		var got []int64
		res, err := st.Read(context.Background(), 1, 0, -1, func(l Line) error {
			if s := string(l.AppendContent(nil)); s != lines[l.N] {
				t.Fatalf("flip at %d: line %d read %q, want %q", at, l.N, s, lines[l.N])
			}
			got = append(got, l.N)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Damage) != 1 {
			t.Fatalf("flip at %d: damage %v, want it found once", at, res.Damage)
		}
		// Which chunk holds the byte, and is it in its header?
		c := 0
		for offs[c+1] <= int64(at) {
			c++
		}
		if at < FileHeaderSize {
			c = -1
		}
		inHeader := c < 0 || int64(at) < offs[c]+ChunkHeaderLen
		d := res.Damage[0]
		switch {
		case c < 0:
			if d.Offset != 0 || !d.Tail || len(got) != 0 {
				t.Fatalf("flip at %d in the file header: %v, %d lines served", at, d, len(got))
			}
		case inHeader:
			if d.Offset != offs[c] || !d.Tail || res.End != firsts[c] {
				t.Fatalf("flip at %d in chunk %d's header: %v, end %d", at, c, d, res.End)
			}
		default:
			if d.Offset != offs[c] || d.Tail || !slices.Equal(res.Lost, []Range{{firsts[c], firsts[c+1]}}) || res.End != int64(len(lines)) {
				t.Fatalf("flip at %d in chunk %d's payload: %v, lost %v, end %d", at, c, d, res.Lost, res.End)
			}
		}
		// Served, lost and tail cover every line once.
		covered := slices.Clone(got)
		for _, r := range res.Lost {
			for n := r.From; n < r.To; n++ {
				covered = append(covered, n)
			}
		}
		for n := max(res.End, 0); n < int64(len(lines)); n++ {
			covered = append(covered, n)
		}
		slices.Sort(covered)
		for i, n := range covered {
			if n != int64(i) || len(covered) != len(lines) {
				t.Fatalf("flip at %d: served %v, lost %v, end %d do not cover the %d lines once", at, got, res.Lost, res.End, len(lines))
			}
		}
		rep, err := st.Check(context.Background(), 1)
		if err != nil || len(rep.Damage) != 1 || !errors.Is(rep.Damage[0], ErrCorrupt) {
			t.Fatalf("flip at %d: check %+v, %v", at, rep, err)
		}
	}
}
