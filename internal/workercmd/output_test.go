package workercmd

import (
	"fmt"
	"strings"
	"testing"
)

// op is one step of a chunker script: add text to a stream, tick, flush
// or write a header.
type op struct {
	kind string // "out", "err", "tick", "flush", "header"
	text string
}

func TestChunker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		max  int
		ops  []op
		want []string // "stdout:text" and the like
	}{
		{
			name: "nothing before a tick",
			max:  100,
			ops:  []op{{"out", "a\nb\n"}},
			want: nil,
		},
		{
			name: "tick hands on complete lines",
			max:  100,
			ops:  []op{{"out", "a\nb\npart"}, {"tick", ""}},
			want: []string{"stdout:a\nb\n"},
		},
		{
			name: "partial line waits one tick",
			max:  100,
			ops:  []op{{"out", "part"}, {"tick", ""}, {"out", "ial"}, {"tick", ""}},
			want: []string{"stdout:partial"},
		},
		{
			name: "partial line completed before the second tick",
			max:  100,
			ops:  []op{{"out", "pa"}, {"tick", ""}, {"out", "rt\nnext"}, {"tick", ""}, {"tick", ""}},
			want: []string{"stdout:part\nnext"},
		},
		{
			name: "held flag resets on an empty buffer",
			max:  100,
			ops:  []op{{"out", "x"}, {"tick", ""}, {"tick", ""}, {"out", "y"}, {"tick", ""}, {"out", "\n"}, {"tick", ""}},
			want: []string{"stdout:x", "stdout:y\n"},
		},
		{
			name: "full buffer cut at the last newline",
			max:  10,
			ops:  []op{{"out", "abc\ndefg\nhijklm"}},
			want: []string{"stdout:abc\ndefg\n"},
		},
		{
			name: "full buffer without newline cut at max",
			max:  4,
			ops:  []op{{"err", "abcdefghij"}, {"flush", ""}},
			want: []string{"stderr:abcd", "stderr:efgh", "stderr:ij"},
		},
		{
			name: "streams are buffered apart",
			max:  100,
			ops:  []op{{"out", "o1\n"}, {"err", "e1\n"}, {"out", "o2\n"}, {"tick", ""}},
			want: []string{"stdout:o1\no2\n", "stderr:e1\n"},
		},
		{
			name: "header flushes output first",
			max:  100,
			ops:  []op{{"out", "o"}, {"err", "e\n"}, {"header", "H\n"}, {"out", "p\n"}, {"flush", ""}},
			want: []string{"stdout:o", "stderr:e\n", "header:H\n", "stdout:p\n"},
		},
		{
			name: "long header is chunked too",
			max:  3,
			ops:  []op{{"header", "abcdefg"}},
			want: []string{"header:abc", "header:def", "header:g"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			c := newChunker(tc.max, func(s Stream, p []byte) {
				if len(p) == 0 || len(p) > tc.max {
					t.Errorf("chunk of %d bytes, max %d", len(p), tc.max)
				}
				got = append(got, s.String()+":"+string(p))
			})
			for _, o := range tc.ops {
				switch o.kind {
				case "out":
					c.add(Stdout, []byte(o.text))
				case "err":
					c.add(Stderr, []byte(o.text))
				case "tick":
					c.tick()
				case "flush":
					c.flush()
				case "header":
					c.header(o.text)
				}
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// FuzzChunker checks that whatever the input and the ticks, each stream's
// bytes come out complete, in order and in chunks of 1..max bytes.
func FuzzChunker(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{0, 1, 2, 3}, uint8(4))
	f.Add([]byte("no newline at all here"), []byte{1, 1, 1, 2}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, plan []byte, max uint8) {
		m := int(max)%16 + 1
		var got [3]strings.Builder
		c := newChunker(m, func(s Stream, p []byte) {
			if len(p) == 0 || len(p) > m {
				t.Fatalf("chunk of %d bytes, max %d", len(p), m)
			}
			got[s].Write(p)
		})
		var want [2]strings.Builder
		for i, b := range plan {
			if len(data) == 0 {
				break
			}
			n := min(int(b>>2)+1, len(data))
			piece := data[:n]
			data = data[n:]
			s := Stream(i % 2)
			switch b & 3 {
			case 0, 1:
				c.add(s, piece)
				want[s].Write(piece)
			case 2:
				c.add(s, piece)
				want[s].Write(piece)
				c.tick()
			case 3:
				c.header("h")
			}
		}
		c.flush()
		for s := Stdout; s <= Stderr; s++ {
			if got[s].String() != want[s].String() {
				t.Fatalf("%s: got %q, want %q", s, got[s].String(), want[s].String())
			}
		}
	})
}
