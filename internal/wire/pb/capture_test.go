package pb

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// A capture is a recorded TCP session: segments in the order they were
// seen, '>' from the master to the worker, '<' back.
type segment struct {
	dir  byte
	data []byte
}

func readCapture(t testing.TB, path string) []segment {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []segment
	for i, line := range strings.Split(string(raw), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if len(line) < 3 || (line[0] != '>' && line[0] != '<') || line[1] != ' ' {
			t.Fatalf("%s:%d: want '> hex' or '< hex'", path, i+1)
		}
		data, err := hex.DecodeString(line[2:])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		out = append(out, segment{dir: line[0], data: data})
	}
	return out
}

// An expr is one decoded top-level expression of a capture, with the raw
// bytes it was decoded from.
type expr struct {
	dir  byte
	seg  int // index of the segment holding its last byte
	raw  []byte
	sexp any
}

// decodeCapture decodes both directions of a capture, as each side's
// Banana would: the first expression of each (the dialect offer and
// choice) without the vocabulary, the rest with it. Expressions come out
// in capture order.
func decodeCapture(t testing.TB, segs []segment) []expr {
	t.Helper()
	var all []expr
	for _, dir := range []byte{'>', '<'} {
		var stream []byte
		var ends []int // cumulative end offset of each segment of dir
		var idx []int  // its index in segs
		for i, s := range segs {
			if s.dir == dir {
				stream = append(stream, s.data...)
				ends = append(ends, len(stream))
				idx = append(idx, i)
			}
		}
		src := bytes.NewReader(stream)
		br := bufio.NewReader(src)
		d := NewDecoder(br)
		off := 0
		for n := 0; ; n++ {
			d.Vocab = n > 0
			sexp, err := d.Decode()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("direction %c, expression %d at byte %d: %v", dir, n, off, err)
			}
			end := len(stream) - src.Len() - br.Buffered()
			seg := idx[sort.SearchInts(ends, end)]
			all = append(all, expr{dir: dir, seg: seg, raw: stream[off:end], sexp: sexp})
			off = end
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].seg < all[j].seg })
	return all
}

// transcript renders decoded expressions one per line, long strings cut.
func transcript(exprs []expr) string {
	var b strings.Builder
	for _, e := range exprs {
		fmt.Fprintf(&b, "%c %s\n", e.dir, appendSexp(nil, e.sexp, 120, 0))
	}
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	testkit.Golden(t, path, []byte(got))
}

// TestCaptureDecodes decodes the captured sessions, checks the decoded
// transcript against its golden file, and re-encodes every expression to
// the very bytes Twisted sent.
func TestCaptureDecodes(t *testing.T) {
	for _, name := range []string{"session", "badpass"} {
		t.Run(name, func(t *testing.T) {
			exprs := decodeCapture(t, readCapture(t, "testdata/"+name+".pb"))
			golden(t, "testdata/"+name+".sexp", transcript(exprs))
			for i, e := range exprs {
				got, err := AppendExpr(nil, e.sexp, i > 1)
				if err != nil {
					t.Fatalf("expression %d: %v", i, err)
				}
				if !bytes.Equal(got, e.raw) {
					t.Fatalf("expression %d re-encodes differently:\nwant %x\ngot  %x", i, e.raw, got)
				}
			}
		})
	}
}
