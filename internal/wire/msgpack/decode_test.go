package msgpack

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// referenceDecode decodes b with the msgpack library's generic decoder and
// maps its sized numbers to decodeFrame's: what decodeFrame must return for
// a frame check accepts.
func referenceDecode(b []byte) (any, error) {
	v, err := msgpack.NewDecoder(bytes.NewReader(b)).DecodeInterface()
	if err != nil {
		return nil, err
	}
	var norm func(any) any
	norm = func(v any) any {
		switch x := v.(type) {
		case int8:
			return int64(x)
		case int16:
			return int64(x)
		case int32:
			return int64(x)
		case uint8:
			return int64(x)
		case uint16:
			return int64(x)
		case uint32:
			return int64(x)
		case uint64:
			if x <= math.MaxInt64 {
				return int64(x)
			}
		case float32:
			return float64(x)
		case []any:
			for i := range x {
				x[i] = norm(x[i])
			}
		case map[string]any:
			for k, e := range x {
				x[k] = norm(e)
			}
		}
		return v
	}
	m, ok := norm(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a %T", v)
	}
	return frame(m), nil
}

// sameAsReference fails t unless decodeFrame and referenceDecode agree on b.
func sameAsReference(t testing.TB, b []byte) {
	t.Helper()
	got, err := decodeFrame(b)
	if err != nil {
		return
	}
	want, err := referenceDecode(b)
	if err != nil {
		t.Fatalf("% x: decodeFrame accepts, the library refuses: %v", b, err)
	}
	if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
		t.Fatalf("% x:\ngot  %s\nwant %s", b, g, w)
	}
}

func TestDecodeAgreesWithLibrary(t *testing.T) {
	for name, b := range realFrames(t) {
		t.Run(name, func(t *testing.T) { sameAsReference(t, b) })
	}
	// Every kind of value, each length form.
	f := frame{"nil": nil, "t": true, "f": false, "neg": int64(-33), "negfix": int64(-5), "i16": int64(-300),
		"i32": int64(-70000), "i64": int64(math.MinInt64), "u8": int64(200), "u16": int64(60000), "u32": int64(1 << 31),
		"u64": uint64(math.MaxUint64), "f64": 2.5, "str8": string(bytes.Repeat([]byte("s"), 40)),
		"str16": string(bytes.Repeat([]byte("s"), 300)), "bin": []byte{1, 2}, "empty": []byte{}, "arr": []any{},
		"map": map[string]any{"": "", "x": []any{int64(1), "two"}}, "arr16": make([]any, 20)}
	b, err := encodeFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	sameAsReference(t, b)
	// The short forms the library's encoder does not write: fixints,
	// int8…int32, uint8…uint32, float32, str 16, array 16, map 16.
	sameAsReference(t, []byte{0xde, 0x00, 0x0c,
		0xa1, 'a', 0x05, 0xa1, 'b', 0xfb, 0xa1, 'c', 0xd0, 0x80, 0xa1, 'd', 0xd1, 0x80, 0x00,
		0xa1, 'e', 0xd2, 0x80, 0x00, 0x00, 0x00, 0xa1, 'f', 0xcc, 0xff, 0xa1, 'g', 0xcd, 0xff, 0xff,
		0xa1, 'h', 0xce, 0xff, 0xff, 0xff, 0xff, 0xa1, 'i', 0xca, 0x3f, 0xc0, 0x00, 0x00,
		0xa1, 'j', 0xda, 0x00, 0x02, 'h', 'i', 0xa1, 'k', 0xdc, 0x00, 0x01, 0xc3,
		0xa1, 'l', 0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01})
}

// TestDecodeCopies: a decoded frame shares nothing with the buffer it was
// read into, which the reader reuses for the next frame.
func TestDecodeCopies(t *testing.T) {
	b, err := encodeFrame(frame{"op": "update", "seq_number": int64(7), "command_id": "c-1",
		"args": []any{[]any{map[string]any{"stdout": "out put\n", "bin": []byte("bytes")}, int64(0)}}})
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Clone(b)
	f, err := decodeFrame(buf)
	if err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprintf("%#v", f)
	for i := range buf {
		buf[i] = 'Z'
	}
	if after := fmt.Sprintf("%#v", f); after != before {
		t.Errorf("the frame changed with its buffer:\nbefore %s\nafter  %s", before, after)
	}
}

// TestDecodeAllocs: decoding an update frame allocates its containers, its
// strings that are not the protocol's own names and its boxed numbers,
// nothing per key (the library's generic decoder made 76 allocations of
// this frame).
func TestDecodeAllocs(t *testing.T) {
	b := realFrames(t)["update-header-stdout-header-rc-elapsed"]
	f, err := decodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() { _, _ = decodeFrame(b) })
	if allocs > 60 {
		t.Errorf("decodeFrame of an update allocates %.0f times, want at most 60 (%#v)", allocs, f)
	}
}
