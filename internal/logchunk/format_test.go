package logchunk

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// goldenLogs are small logs whose files are kept under testdata/: the bytes
// a Writer makes (NAME.log) and the lines a reader gets back (NAME.txt).
var goldenLogs = []struct {
	name  string
	typ   Type
	lines []string
}{
	{name: "stdio", typ: Stdio, lines: []string{
		"hmake -C src all\n",
		"ocompiling main.c\n", "ocompiling util.c\n", "ocompiling parse.c\n", "ocompiling lex.c\n",
		"eutil.c:12:5: warning: unused variable 'n'\n",
		// Incompressible: this chunk is stored as is.
		"oq8Zr1vXk2Jm9TfLw0aYp3HcN7bGd4sE6uKxV5iWgRzOeQyMnBtCjAlUoIhDfS\n",
		"olinking app\n",
		"h\n", // an empty header line
		"oé∑ ok\n",
	}},
	{name: "text", typ: Text, lines: []string{"first\n", "\n", "third line, longer than the others so it is cut into a chunk of its own\n", "last\n"}},
	{name: "html", typ: HTML, lines: []string{"<p>report</p>\n", "<ul><li>1 failed</li></ul>\n"}},
}

func TestGoldenFormat(t *testing.T) {
	for _, g := range goldenLogs {
		t.Run(g.name, func(t *testing.T) {
			st := newStore(t, Options{ChunkSize: 96})
			writeLog(t, st, 7, g.typ, g.lines)
			got := fileBytes(t, st.Path(7))
			golden := filepath.Join("testdata", g.name+".log")
			if testkit.Update() {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := fileBytes(t, golden); !bytes.Equal(got, want) {
				t.Errorf("file bytes differ from %s (run with -update after a deliberate format change)", golden)
			}

			// The golden file reads back as its lines, whatever wrote it.
			dir := t.TempDir()
			ro, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			if err := os.MkdirAll(filepath.Dir(ro.Path(7)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(ro.Path(7), fileBytes(t, golden), 0o644); err != nil {
				t.Fatal(err)
			}
			lines, _, res := readLines(t, ro, 7, 0, -1)
			text := strings.Join(lines, "")
			goldenText := filepath.Join("testdata", g.name+".txt")
			if testkit.Update() {
				if err := os.WriteFile(goldenText, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := string(fileBytes(t, goldenText)); text != want || text != strings.Join(g.lines, "") {
				t.Errorf("read back:\n%s\nwant:\n%s", text, want)
			}
			if res.Type != g.typ || res.End != int64(len(g.lines)) || len(res.Lost) > 0 || len(res.Damage) > 0 {
				t.Errorf("result %+v, want type %c, end %d, nothing lost", res, g.typ, len(g.lines))
			}
		})
	}
}

// The stdio golden file holds both codecs, several chunks, and a header
// laid out as the package doc says.
func TestGoldenLayout(t *testing.T) {
	b := fileBytes(t, filepath.Join("testdata", "stdio.log"))
	if string(b[:4]) != "BMLG" || b[4] != 1 || b[5] != 's' || binary.LittleEndian.Uint64(b[8:]) != 7 {
		t.Fatalf("file header % x", b[:FileHeaderSize])
	}
	codecs := map[byte]int{}
	var next int64
	for off := FileHeaderSize; off < len(b); {
		h, err := parseChunkHeader(b[off:])
		if err != nil {
			t.Fatalf("chunk at %d: %v", off, err)
		}
		if h.firstLine != next {
			t.Errorf("chunk at %d starts at line %d, want %d", off, h.firstLine, next)
		}
		codecs[h.codec]++
		next = h.end()
		off += ChunkHeaderLen + int(h.storedLen)
	}
	if codecs[codecStored] == 0 || codecs[codecZstd] == 0 || next != int64(len(goldenLogs[0].lines)) {
		t.Errorf("chunks by codec %v ending at line %d; want both codecs and %d lines", codecs, next, len(goldenLogs[0].lines))
	}
}

func TestParseHeaders(t *testing.T) {
	good := fileHeader{typ: Stdio, logid: 42}.append(nil)
	fileCases := []struct {
		name string
		edit func(b []byte)
		want string
	}{
		{"sound", func([]byte) {}, ""},
		{"magic", func(b []byte) { b[0] = 'X' }, "magic"},
		{"checksum", func(b []byte) { b[9] ^= 1 }, "checksum"},
		{"version", func(b []byte) { b[4] = 2; reseal(b, 16) }, "version 2"},
		{"type", func(b []byte) { b[5] = 'x'; reseal(b, 16) }, "log type"},
		{"reserved", func(b []byte) { b[7] = 1; reseal(b, 16) }, "reserved"},
		{"short", nil, "bytes, want 20"},
	}
	for _, c := range fileCases {
		t.Run("file/"+c.name, func(t *testing.T) {
			b := bytes.Clone(good)
			if c.edit == nil {
				b = b[:10]
			} else {
				c.edit(b)
			}
			h, err := parseFileHeader(b)
			checkErr(t, err, c.want)
			if err == nil && (h.typ != Stdio || h.logid != 42) {
				t.Errorf("parsed %+v", h)
			}
		})
	}

	chunk := make([]byte, ChunkHeaderLen)
	chunkHeader{codec: codecZstd, firstLine: 5, lines: 2, rawLen: 10, storedLen: 8, crc: 99}.put(chunk)
	chunkCases := []struct {
		name string
		edit func(b []byte)
		want string
	}{
		{"sound", func([]byte) {}, ""},
		{"magic", func(b []byte) { b[3] = 'X' }, "magic"},
		{"checksum", func(b []byte) { b[20] ^= 1 }, "checksum"},
		{"reserved", func(b []byte) { b[6] = 1; reseal(b, 32) }, "reserved"},
		{"first line", func(b []byte) { b[15] = 0x40; reseal(b, 32) }, "2^62"},
		{"raw length 0", func(b []byte) { binary.LittleEndian.PutUint32(b[20:], 0); reseal(b, 32) }, "raw length 0"},
		{"raw length too big", func(b []byte) { binary.LittleEndian.PutUint32(b[20:], MaxChunkRaw+1); reseal(b, 32) }, "raw length"},
		{"no lines", func(b []byte) { binary.LittleEndian.PutUint32(b[16:], 0); reseal(b, 32) }, "0 lines"},
		{"more lines than bytes", func(b []byte) { binary.LittleEndian.PutUint32(b[16:], 11); reseal(b, 32) }, "11 lines in 10"},
		{"zstd larger than raw", func(b []byte) { binary.LittleEndian.PutUint32(b[24:], 11); reseal(b, 32) }, "stored in 11"},
		{"stored length differs", func(b []byte) { b[4] = codecStored; reseal(b, 32) }, "holds 8"},
		{"codec", func(b []byte) { b[4] = 7; reseal(b, 32) }, "codec 7"},
		{"short", nil, "want 36"},
	}
	for _, c := range chunkCases {
		t.Run("chunk/"+c.name, func(t *testing.T) {
			b := bytes.Clone(chunk)
			if c.edit == nil {
				b = b[:35]
			} else {
				c.edit(b)
			}
			h, err := parseChunkHeader(b)
			checkErr(t, err, c.want)
			if err == nil && (h.firstLine != 5 || h.end() != 7 || h.rawLen != 10 || h.storedLen != 8 || h.crc != 99) {
				t.Errorf("parsed %+v", h)
			}
		})
	}
}

// reseal rewrites the checksum of b[:n] after it, as a writer would.
func reseal(b []byte, n int) { binary.LittleEndian.PutUint32(b[n:], checksum(b[:n])) }

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("error %v, want none", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("error %v, want one saying %q", err, want)
	}
}

func TestCheckLines(t *testing.T) {
	cases := []struct {
		raw  string
		n    int
		typ  Type
		want string
	}{
		{"oa\nEb\n", 2, Stdio, "starts with 'E'"},
		{"oa\n\n", 2, Stdio, "starts with '\\n'"},
		{"oa\neb\n", 2, Stdio, ""},
		{"oa\neb\n", 3, Stdio, "2 lines, header says 3"},
		{"a\n\nb\n", 3, Text, ""},
		{"a\nb", 2, Text, "newline"},
		{"a\nb\n", 1, HTML, "2 lines, header says 1"},
	}
	for _, c := range cases {
		checkErr(t, checkLines([]byte(c.raw), c.n, c.typ), c.want)
	}
}
