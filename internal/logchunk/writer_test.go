package logchunk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Append (with a stream) and AppendChunk (Buildbot's content form, stream
// = chunk) add the lines they are given, or refuse bad input whole.
func TestAppend(t *testing.T) {
	const chunk Stream = 'C'
	cases := []struct {
		name   string
		typ    Type
		stream Stream
		text   string
		want   string // lines in content form
		err    string
	}{
		{"lines", Stdio, Stdout, "a\nb\n", "oa\nob\n", ""},
		{"last line without newline", Stdio, Stderr, "a\nb", "ea\neb\n", ""},
		{"empty line", Stdio, Header, "\n", "h\n", ""},
		{"nothing", Stdio, Stdout, "", "", ""},
		{"text", Text, NoStream, "x\n\ny", "x\n\ny\n", ""},
		{"html", HTML, NoStream, "<p>", "<p>\n", ""},
		{"stdio needs a stream", Stdio, NoStream, "a", "", "stream '\\x00' not allowed"},
		{"stdio with a bad stream", Stdio, 'x', "a", "", "stream 'x' not allowed"},
		{"text takes no stream", Text, Stdout, "a", "", "stream 'o' not allowed"},
		{"content", Stdio, chunk, "hcmd\noout\neerr", "hcmd\noout\neerr\n", ""},
		{"content of a text log", Text, chunk, "a\n\nb\n", "a\n\nb\n", ""},
		{"content line without a stream", Stdio, chunk, "hcmd\nXout\n", "", "line 1 of the content starts with 'X'"},
		{"content empty line without stream", Stdio, chunk, "oa\n\n", "", "line 1 of the content starts with '\\n'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newStore(t, Options{})
			w, err := st.Create(1, c.typ)
			if err != nil {
				t.Fatal(err)
			}
			var r Range
			if c.stream == chunk {
				r, err = w.AppendChunk([]byte(c.text))
			} else {
				r, err = w.Append(c.stream, []byte(c.text))
			}
			checkErr(t, err, c.err)
			n := int64(strings.Count(c.want, "\n"))
			if r.From != 0 || r.Len() != n || w.Lines() != n {
				t.Errorf("appended %v, %d lines; want %d", r, w.Lines(), n)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := readLines(t, st, 1, 0, -1); strings.Join(got, "") != c.want {
				t.Errorf("read %q, want %q", got, c.want)
			}
		})
	}
}

// A line longer than a chunk is cut into lines that fit, each with its
// stream, never inside a UTF-8 character.
func TestLongLine(t *testing.T) {
	st := newStore(t, Options{ChunkSize: 32})
	w, err := st.Create(1, Stdio)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é∑x", 40) // 2+3+1 bytes a group
	if _, err := w.Append(Stderr, []byte(long+"\nshort")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines, _, _ := readLines(t, st, 1, 0, -1)
	var joined strings.Builder
	for _, l := range lines[:len(lines)-1] {
		if len(l) > 32 || l[0] != 'e' || !utf8.ValidString(l) {
			t.Errorf("piece %q: longer than a chunk, without its stream or not UTF-8", l)
		}
		joined.WriteString(strings.TrimSuffix(l[1:], "\n"))
	}
	if joined.String() != long || lines[len(lines)-1] != "eshort\n" {
		t.Errorf("pieces join to %q, want %q; last line %q", joined.String(), long, lines[len(lines)-1])
	}
}

func TestWriterLifecycle(t *testing.T) {
	st := newStore(t, Options{})
	if _, err := st.Create(1, 'x'); err == nil {
		t.Error("created a log of type x")
	}
	w, err := st.Create(1, Stdio)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(1, Stdio); !errors.Is(err, ErrOpen) {
		t.Errorf("second create while open: %v, want ErrOpen", err)
	}
	if err := st.Close(); err == nil {
		t.Error("store closed with a log open")
	}
	if _, err := st.Check(context.Background(), 1); !errors.Is(err, ErrOpen) {
		t.Errorf("check of an open log: %v, want ErrOpen", err)
	}
	// Lines in the buffer are read as those written.
	if _, err := w.Append(Stdout, []byte("one\ntwo\n")); err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"before flush", "after flush"} {
		if got, _, res := readLines(t, st, 1, 0, -1); !slices.Equal(got, []string{"oone\n", "otwo\n"}) || res.End != 2 || res.Type != Stdio {
			t.Errorf("%s read %q, %+v", when, got, res)
		}
		if got, _, res := readLines(t, st, 1, 1, 5); !slices.Equal(got, []string{"otwo\n"}) || res.End != 2 {
			t.Errorf("%s read from line 1: %q, %+v", when, got, res)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	for name, f := range map[string]func() error{
		"append":       func() error { _, err := w.Append(Stdout, []byte("x")); return err },
		"append chunk": func() error { _, err := w.AppendChunk([]byte("ox")); return err },
		"flush":        w.Flush,
		"sync":         w.Sync,
	} {
		if err := f(); !errors.Is(err, errClosed) {
			t.Errorf("%s after close: %v", name, err)
		}
	}
	if _, err := st.Create(1, Stdio); !errors.Is(err, fs.ErrExist) {
		t.Errorf("create over a file: %v, want fs.ErrExist", err)
	}
	// A log closed without lines has a file, read as empty.
	w2, err := st.Create(2, HTML)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _, res := readLines(t, st, 2, 0, -1); len(got) != 0 || res.End != 0 || res.Type != HTML || len(res.Damage) > 0 {
		t.Errorf("empty log read %q, %+v", got, res)
	}
	if s := st.Stats(); s.Chunks != 1 || s.RawBytes != int64(len("oone\notwo\n")) || s.StoredBytes != 2*FileHeaderSize+ChunkHeaderLen+10 {
		t.Errorf("stats %+v", s)
	}
}

// A Writer holds at most one chunk, and none once Flush has written it.
func TestWriterBuffer(t *testing.T) {
	st := newStore(t, Options{ChunkSize: 4096})
	w, err := st.Create(1, Stdio)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i, l := range buildOutput(5000) {
		if _, err := w.AppendChunk([]byte(l)); err != nil {
			t.Fatal(err)
		}
		if cap(w.raw) > 4096 {
			t.Fatalf("after line %d the buffer holds %d bytes, more than a chunk", i, cap(w.raw))
		}
	}
	if err := w.Flush(); err != nil || w.raw != nil {
		t.Errorf("after flush: %v, buffer of %d bytes", err, cap(w.raw))
	}
}

// TestAppendChunkGrowsOnce: a small log's content, appended at once, is
// copied into a buffer made to its size, not into one grown line by line
// (from 512 bytes, doubling: most of what a short step's log allocated),
// and content in a string is not copied to bytes first.
func TestAppendChunkGrowsOnce(t *testing.T) {
	st := newStore(t, Options{ChunkSize: 64 << 10})
	content := strings.Join(buildOutput(60), "") // some 2-3 KiB
	var id uint64
	ws := make([]*Writer, 0, 100)
	defer func() {
		for _, w := range ws {
			if err := w.Close(); err != nil {
				t.Error(err)
			}
		}
	}()
	create := func() *Writer {
		id++
		w, err := st.Create(id, Stdio)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
		return w
	}
	base := testing.AllocsPerRun(20, func() { create() }) // what Create costs
	bytesContent := []byte(content)
	for name, add := range map[string]func(*Writer) (Range, error){
		"AppendChunk":       func(w *Writer) (Range, error) { return w.AppendChunk(bytesContent) },
		"AppendChunkString": func(w *Writer) (Range, error) { return w.AppendChunkString(content) },
	} {
		allocs := testing.AllocsPerRun(20, func() {
			w := create()
			if r, err := add(w); err != nil || r.Len() != 60 {
				t.Fatalf("%s: %v, %v; want 60 lines", name, r, err)
			}
		})
		if allocs-base > 1 {
			t.Errorf("%s of %d bytes into a new log: %.0f allocations, want 1 (the buffer)", name, len(content), allocs-base)
		}
	}
}

// TestAppendChunkString: the string form adds, and refuses, what
// AppendChunk does.
func TestAppendChunkString(t *testing.T) {
	st := newStore(t, Options{ChunkSize: 64})
	id := uint64(0)
	for _, content := range []string{"", "ha\nob\n", "ha\nob", "ha\n\nob\n", "hé\nx\n", "o" + strings.Repeat("é", 70) + "\n"} {
		var got [2][]string
		var errs [2]string
		for i, add := range []func(*Writer) (Range, error){
			func(w *Writer) (Range, error) { return w.AppendChunk([]byte(content)) },
			func(w *Writer) (Range, error) { return w.AppendChunkString(content) },
		} {
			id++
			w, err := st.Create(id, Stdio)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := add(w); err != nil {
				errs[i] = strings.ReplaceAll(err.Error(), fmt.Sprintf("log %d", id), "log N")
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got[i], _, _ = readLines(t, st, id, 0, 100)
		}
		if !slices.Equal(got[0], got[1]) || errs[0] != errs[1] {
			t.Errorf("%q: AppendChunk: %q, %q; AppendChunkString: %q, %q", content, got[0], errs[0], got[1], errs[1])
		}
	}
}

// TestAppendChunkKeepsItsBuffer: a log streaming in pieces that cross
// chunk boundaries fills one chunk buffer again and again (flushLocked
// keeps it), not a new one for every chunk: sizing the buffer for a piece
// must not replace a full-sized buffer the piece does not fit in.
func TestAppendChunkKeepsItsBuffer(t *testing.T) {
	st := newStore(t, Options{ChunkSize: 4096})
	w, err := st.Create(1, Stdio)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	lines := buildOutput(5000)
	var buf *byte // the full-sized buffer, once there is one
	replaced := 0
	for i := 0; i+20 <= len(lines); i += 20 {
		if _, err := w.AppendChunkString(strings.Join(lines[i:i+20], "")); err != nil { // ~1 KiB
			t.Fatal(err)
		}
		if cap(w.raw) != 4096 {
			continue
		}
		if b := &w.raw[:1][0]; buf != b {
			if buf != nil {
				replaced++
			}
			buf = b
		}
	}
	if replaced > 0 {
		t.Errorf("the chunk buffer was replaced %d times in %d chunks, want never", replaced, st.Stats().Chunks)
	}
}
