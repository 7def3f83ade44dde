package msgpack

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRefuses(t *testing.T) {
	deep := []byte{0x81, 0xa1, 'a'}
	for range maxDepth {
		deep = append(deep, 0x91)
	}
	deep = append(deep, 0xc0)
	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"empty", nil, "empty frame"},
		{"array", []byte{0x91, 0x01}, "frame starts with 0x91, want a map"},
		{"int", []byte{0x01}, "want a map"},
		{"truncated key", []byte{0x81, 0xa2, 'k'}, "byte 1: 2 bytes claimed, 1 left"},
		{"missing value", []byte{0x81, 0xa1, 'k'}, "truncated frame: value expected at byte 3"},
		{"huge array", []byte{0x81, 0xa1, 'k', 0xdd, 0xff, 0xff, 0xff, 0xff}, "byte 3: length 4294967295 of 0xdd is too big"},
		{"huge map", []byte{0xdf, 0x7f, 0xff, 0xff, 0xff}, "elements claimed"},
		{"huge bin", []byte{0x81, 0xa1, 'k', 0xc6, 0xff, 0xff, 0xff, 0xff, 0}, "byte 3: length 4294967295 of 0xc6 is too big"},
		{"truncated length", []byte{0x81, 0xa1, 'k', 0xc6, 0xff}, "byte 3: truncated length of 0xc6"},
		{"truncated float", []byte{0x81, 0xa1, 'k', 0xcb, 0, 0}, "truncated frame at byte 3"},
		{"int key", []byte{0x81, 0x01, 0xc0}, "byte 1: map key is not a str (0x01)"},
		{"nested int key", []byte{0x81, 0xa1, 'k', 0x81, 0xc0, 0xc0}, "byte 4: map key is not a str (0xc0)"},
		{"ext", []byte{0x81, 0xa1, 'k', 0xd4, 0x01, 0x00}, "byte 3: msgpack ext type 0xd4"},
		{"never used", []byte{0x81, 0xa1, 'k', 0xc1}, "0xc1 is never used"},
		{"trailing", []byte{0x80, 0x00}, "1 bytes after the map"},
		{"too deep", deep, "nested deeper than 32"},
	}
	for _, tt := range tests {
		_, err := decodeFrame(tt.frame)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s (% x): %v, want %q", tt.name, tt.frame, err, tt.want)
		}
	}
}

func TestDecodeNormalises(t *testing.T) {
	// {"a": int8 -3, "b": uint16 500, "c": uint64 max, "d": float32 1.5,
	//  "e": bin "xy", "f": [uint8 7]}
	b := []byte{0x86,
		0xa1, 'a', 0xd0, 0xfd,
		0xa1, 'b', 0xcd, 0x01, 0xf4,
		0xa1, 'c', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xa1, 'd', 0xca, 0x3f, 0xc0, 0x00, 0x00,
		0xa1, 'e', 0xc4, 0x02, 'x', 'y',
		0xa1, 'f', 0x91, 0xcc, 0x07,
	}
	f, err := decodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	want := frame{"a": int64(-3), "b": int64(500), "c": uint64(math.MaxUint64), "d": 1.5, "e": []byte("xy"), "f": []any{int64(7)}}
	if fmt.Sprintf("%#v", f) != fmt.Sprintf("%#v", want) {
		t.Errorf("got  %#v\nwant %#v", f, want)
	}
}

// realFrames are frames Debian's buildbot-worker 3.7 sent to the Server
// (go test -run TestRealWorker -capture writes them).
func realFrames(t testing.TB) map[string][]byte {
	paths, err := filepath.Glob(filepath.Join("testdata", "frames", "*.msgpack"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no frames in testdata/frames: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".msgpack")] = b
	}
	return out
}

func TestRealFrames(t *testing.T) {
	for name, b := range realFrames(t) {
		f, err := decodeFrame(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		op, _ := f.str("op")
		if _, ok := f.int("seq_number"); !ok || !strings.HasPrefix(name, op) {
			t.Errorf("%s: op %q, seq_number %v", name, op, f["seq_number"])
		}
		if op == "update" {
			if _, err := decodeUpdates(f["args"]); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		roundTrip(t, f)
	}
}

// roundTrip checks that encoding f and decoding it again gives f.
func roundTrip(t testing.TB, f frame) {
	b, err := encodeFrame(f)
	if err != nil {
		t.Fatalf("encode %#v: %v", f, err)
	}
	g, err := decodeFrame(b)
	if err != nil {
		t.Fatalf("decode of %#v's encoding: %v", f, err)
	}
	// %#v prints maps sorted and NaN as NaN.
	if a, b := fmt.Sprintf("%#v", f), fmt.Sprintf("%#v", g); a != b {
		t.Fatalf("round trip changed the frame:\n%s\n%s", a, b)
	}
}

// FuzzDecode: any frame decodes or is refused with an error, never a
// panic; what decodes is what the library's generic decoder makes of it,
// and survives a round trip.
func FuzzDecode(f *testing.F) {
	for _, b := range realFrames(f) {
		f.Add(b)
	}
	f.Add([]byte{0x80})
	f.Add([]byte{0x81, 0xa1, 'k', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			return
		}
		sameAsReference(t, b)
		roundTrip(t, fr)
		if v, ok := fr["args"]; ok {
			_, _ = decodeUpdates(v)
		}
	})
}

// TestHeaderRefusesLengthsPastInt32: a 4-byte length past MaxInt32 is
// refused by header itself (on a 32-bit build int would wrap it negative).
func TestHeaderRefusesLengthsPastInt32(t *testing.T) {
	for _, c := range []byte{0xc6, 0xdb, 0xdd, 0xdf} {
		if _, n, _, err := header([]byte{c, 0x80, 0, 0, 0}); err == nil {
			t.Errorf("header(0x%02x 0x80000000) = length %d, want an error", c, n)
		}
		if _, n, _, err := header([]byte{c, 0x7f, 0xff, 0xff, 0xff}); err != nil || n != math.MaxInt32 {
			t.Errorf("header(0x%02x 0x7fffffff) = %d, %v, want MaxInt32", c, n, err)
		}
	}
}
