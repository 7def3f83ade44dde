package msgpack

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// frame is one decoded message: a map with str keys. Integers are int64
// (uint64 only above math.MaxInt64), floats float64, str string, bin
// []byte, arrays []any and maps map[string]any.
type frame map[string]any

// maxDepth bounds how deeply a frame's arrays and maps nest.
const maxDepth = 32

// decodeRequest decodes one WebSocket message. It checks the structure
// first (see check), so that no container claims more elements than the
// frame has bytes, then decodes it in one pass (value). What it allocates
// is still bounded only by a multiple of the frame's size, up to about 64×
// for a frame of empty maps (as the library's decoder): frames are bounded
// in size, and come only after login. What it returns shares no memory
// with b: the caller may reuse b.
//
// An update's args (op "update") come as the []wire.Update decodeUpdates
// makes of them, decoded straight from b (updateArgs) when they take the
// usual form: of an output's [text, offsets, times] only the text is made,
// not the two lists of numbers nobody reads (a float and an offset a
// line). Args in any other form come as value makes them.
func decodeRequest(b []byte) (frame, error) {
	if err := check(b); err != nil {
		return nil, err
	}
	head, n, _, _ := header(b)
	f := make(frame, n)
	pos, args := head, -1
	for range n {
		kh, kn, _, _ := header(b[pos:])
		key := intern(b[pos+kh : pos+kh+kn])
		pos += kh + kn
		if key == "args" { // decoded once op is known; the last one counts
			args, pos = pos, skip(b, pos)
			continue
		}
		f[key], pos = value(b, pos)
	}
	if args < 0 {
		return f, nil
	}
	if f["op"] == "update" {
		if us, ok := updateArgs(b, args); ok {
			f["args"] = us
			return f, nil
		}
	}
	f["args"], _ = value(b, args)
	return f, nil
}

// skip returns the position after the value at b[pos:], which check has
// found sound.
func skip(b []byte, pos int) int {
	for left := 1; left > 0; left-- {
		head, n, k, _ := header(b[pos:])
		pos += head
		switch k {
		case kindArray:
			left += n
		case kindMap:
			left += 2 * n
		default:
			pos += n
		}
	}
	return pos
}

// updateArgs decodes the update args at b[pos:] (which check has found
// sound) as decodeUpdates(value(b, pos)) does, when they are a list of
// [key, value] pairs in which every output (stdout, stderr, header) is a
// text or a list that starts with one; ok is false otherwise, and for
// args decodeUpdates refuses.
func updateArgs(b []byte, pos int) (_ []wire.Update, ok bool) {
	head, n, k, _ := header(b[pos:])
	// A pair takes 3 bytes at least (its header, a key, a value): args
	// that claim more pairs than that are refused before room is made for
	// them (the generic path, which makes room again, follows).
	if k != kindArray || n > (len(b)-pos-head)/3 {
		return nil, false
	}
	pos += head
	us := make([]wire.Update, 0, n)
	for range n {
		head, pairLen, k, _ := header(b[pos:])
		if k != kindArray || pairLen != 2 {
			return nil, false
		}
		pos += head
		kh, kn, k, _ := header(b[pos:])
		if k != kindStr {
			return nil, false
		}
		key := intern(b[pos+kh : pos+kh+kn])
		pos += kh + kn
		u := wire.Update{Key: key}
		switch key {
		case "stdout", "stderr", "header":
			if u.Text, pos, ok = outputTextAt(b, pos); !ok {
				return nil, false
			}
		default:
			var v any
			var err error
			v, pos = value(b, pos)
			if u, err = decodeUpdate(key, v); err != nil {
				return nil, false
			}
		}
		us = append(us, u)
	}
	return us, true
}

// outputTextAt decodes the output at b[pos:] as outputText(value(b, pos))
// does, when it is a text or a list that starts with one (ok), and
// returns the position after it.
func outputTextAt(b []byte, pos int) (_ string, next int, ok bool) {
	head, n, k, _ := header(b[pos:])
	switch {
	case k == kindStr:
		return intern(b[pos+head : pos+head+n]), pos + head + n, true
	case k == kindArray && n > 0:
		th, tn, tk, _ := header(b[pos+head:])
		if tk != kindStr {
			return "", 0, false
		}
		at := pos + head + th
		return intern(b[at : at+tn]), skip(b, pos), true
	}
	return "", 0, false
}

// value decodes the value at b[pos:], which check has found sound, and
// returns the position after it: integers as int64 (uint64 only above
// math.MaxInt64), floats as float64, str as string, bin as []byte (copies),
// arrays as []any and maps as map[string]any. The protocol's keys and
// names come from constants (intern), not from an allocation each.
func value(b []byte, pos int) (any, int) {
	c := b[pos]
	switch {
	case c <= 0x7f:
		return int64(c), pos + 1
	case c >= 0xe0:
		return int64(int8(c)), pos + 1
	}
	head, n, k, _ := header(b[pos:])
	pos += head
	switch k {
	case kindStr:
		return internValue(b[pos : pos+n]), pos + n
	case kindBin:
		return append([]byte{}, b[pos:pos+n]...), pos + n
	case kindArray:
		a := make([]any, n)
		for i := range a {
			a[i], pos = value(b, pos)
		}
		return a, pos
	case kindMap:
		m := make(map[string]any, n)
		for range n {
			kh, kn, _, _ := header(b[pos:])
			key := intern(b[pos+kh : pos+kh+kn])
			m[key], pos = value(b, pos+kh+kn)
		}
		return m, pos
	}
	return scalar(c, b[pos:pos+n]), pos + n
}

// scalar decodes a value of kindFixed: its type byte c and payload p.
func scalar(c byte, p []byte) any {
	switch c {
	case 0xc2:
		return false
	case 0xc3:
		return true
	case 0xca:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(p)))
	case 0xcb:
		return math.Float64frombits(binary.BigEndian.Uint64(p))
	case 0xcc:
		return int64(p[0])
	case 0xcd:
		return int64(binary.BigEndian.Uint16(p))
	case 0xce:
		return int64(binary.BigEndian.Uint32(p))
	case 0xcf:
		u := binary.BigEndian.Uint64(p)
		if u > math.MaxInt64 {
			return u
		}
		return int64(u)
	case 0xd0:
		return int64(int8(p[0]))
	case 0xd1:
		return int64(int16(binary.BigEndian.Uint16(p)))
	case 0xd2:
		return int64(int32(binary.BigEndian.Uint32(p)))
	case 0xd3:
		return int64(binary.BigEndian.Uint64(p))
	}
	return nil // 0xc0
}

// interned are the protocol's keys and names, each boxed once: intern and
// internValue return them without allocating.
var interned = func() map[string]any {
	m := map[string]any{}
	for _, s := range []string{"op", "seq_number", "result", "is_exception", "args", "command_id", "response",
		"update", "complete", "header", "stdout", "stderr", "rc", "elapsed", ""} {
		m[s] = s
	}
	return m
}()

// intern returns p as a string: one of the protocol's keys and names
// without allocating, any other a copy.
func intern(p []byte) string {
	if v, ok := interned[string(p)]; ok {
		return v.(string)
	}
	return string(p)
}

// internValue is intern boxed: one of the protocol's names costs nothing
// (boxing a string otherwise allocates its header).
func internValue(p []byte) any {
	if v, ok := interned[string(p)]; ok {
		return v
	}
	return string(p)
}

// encodeFrame encodes f as one msgpack map: Go strings as str, []byte as
// bin.
func encodeFrame(f frame) ([]byte, error) {
	b, err := msgpack.Marshal(map[string]any(f))
	if err != nil {
		return nil, fmt.Errorf("encode %v frame: %w", f["op"], err)
	}
	return b, nil
}

// encodeResponse encodes the answer to request seq, as encodeFrame encodes
// {"op": "response", "seq_number": seq, "result": result} (with
// "is_exception": true and the error's text as result when failure is
// set), without building the frame: most answers have a nil result, and
// this one allocation is all they cost.
func encodeResponse(seq int64, result any, failure error) ([]byte, error) {
	fields := byte(3)
	if failure != nil {
		fields, result = 4, failure.Error()
	}
	b := make([]byte, 0, 48)
	b = append(b, 0x80|fields, 0xa2, 'o', 'p', 0xa8)
	b = append(b, "response"...)
	b = append(b, 0xaa)
	b = append(b, "seq_number"...)
	b = binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(seq))
	b = append(b, 0xa6)
	b = append(b, "result"...)
	switch r := result.(type) {
	case nil:
		b = append(b, 0xc0)
	case string:
		b = appendStr(b, r)
	default:
		enc, err := msgpack.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode response: %w", err)
		}
		b = append(b, enc...)
	}
	if failure != nil {
		b = append(b, 0xac)
		b = append(b, "is_exception"...)
		b = append(b, 0xc3)
	}
	return b, nil
}

// appendStr appends s as a msgpack str in its shortest form.
func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// check walks b as one msgpack value without decoding it: the value must
// be a map, fill b exactly, nest at most maxDepth deep, use str keys in
// every map and no ext types, and no array, map, str or bin may claim more
// elements or bytes than remain. The error says what is wrong and at which
// byte offset.
func check(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("empty frame")
	}
	if c := b[0]; !(c >= 0x80 && c <= 0x8f) && c != 0xde && c != 0xdf {
		return fmt.Errorf("frame starts with 0x%02x, want a map", c)
	}
	// Each level counts the values still to read in one container; in a
	// map, even counts mean a key comes next.
	type level struct {
		left  int
		isMap bool
	}
	stack := make([]level, 0, 8)
	pos := 0
	top := true
	for top || len(stack) > 0 {
		wantKey := false
		if len(stack) > 0 {
			l := &stack[len(stack)-1]
			if l.left == 0 {
				stack = stack[:len(stack)-1]
				continue
			}
			wantKey = l.isMap && l.left%2 == 0
			l.left--
		}
		top = false
		if pos >= len(b) {
			return fmt.Errorf("truncated frame: value expected at byte %d", pos)
		}
		c := b[pos]
		head, n, kind, err := header(b[pos:])
		if err != nil {
			return fmt.Errorf("byte %d: %w", pos, err)
		}
		if wantKey && kind != kindStr {
			return fmt.Errorf("byte %d: map key is not a str (0x%02x)", pos, c)
		}
		pos += head
		rest := len(b) - pos
		switch kind {
		case kindStr, kindBin:
			if n > rest {
				return fmt.Errorf("byte %d: %d bytes claimed, %d left", pos-head, n, rest)
			}
			pos += n
		case kindArray, kindMap:
			items := n
			if kind == kindMap {
				items = 2 * n
			}
			// Every element takes at least one byte.
			if items > rest {
				return fmt.Errorf("byte %d: %d elements claimed, %d bytes left", pos-head, items, rest)
			}
			if len(stack) == maxDepth {
				return fmt.Errorf("byte %d: nested deeper than %d", pos-head, maxDepth)
			}
			stack = append(stack, level{left: items, isMap: kind == kindMap})
		case kindFixed:
			if n > rest {
				return fmt.Errorf("truncated frame at byte %d", pos-head)
			}
			pos += n
		}
	}
	if pos != len(b) {
		return fmt.Errorf("%d bytes after the map", len(b)-pos)
	}
	return nil
}

type kind int

const (
	kindFixed kind = iota // n more bytes of payload (numbers, nil, bool)
	kindStr
	kindBin
	kindArray
	kindMap
)

// header reads the type byte and length of the value at the start of b:
// how many bytes the header takes, and the length or count it announces.
func header(b []byte) (head, n int, k kind, err error) {
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		return 1, 0, kindFixed, nil
	case c >= 0x80 && c <= 0x8f:
		return 1, int(c & 0x0f), kindMap, nil
	case c >= 0x90 && c <= 0x9f:
		return 1, int(c & 0x0f), kindArray, nil
	case c >= 0xa0 && c <= 0xbf:
		return 1, int(c & 0x1f), kindStr, nil
	}
	sized := func(width int, k kind) (int, int, kind, error) {
		if len(b) < 1+width {
			return 0, 0, 0, fmt.Errorf("truncated length of 0x%02x", c)
		}
		var n uint64
		switch width {
		case 1:
			n = uint64(b[1])
		case 2:
			n = uint64(binary.BigEndian.Uint16(b[1:]))
		case 4:
			n = uint64(binary.BigEndian.Uint32(b[1:]))
		}
		if n > math.MaxInt32 {
			// No frame is that long, and int(n) would wrap negative on a
			// 32-bit build, sending check backwards.
			return 0, 0, 0, fmt.Errorf("length %d of 0x%02x is too big", n, c)
		}
		return 1 + width, int(n), k, nil
	}
	switch c {
	case 0xc4:
		return sized(1, kindBin)
	case 0xc5:
		return sized(2, kindBin)
	case 0xc6:
		return sized(4, kindBin)
	case 0xd9:
		return sized(1, kindStr)
	case 0xda:
		return sized(2, kindStr)
	case 0xdb:
		return sized(4, kindStr)
	case 0xdc:
		return sized(2, kindArray)
	case 0xdd:
		return sized(4, kindArray)
	case 0xde:
		return sized(2, kindMap)
	case 0xdf:
		return sized(4, kindMap)
	case 0xca:
		return 1, 4, kindFixed, nil
	case 0xcb:
		return 1, 8, kindFixed, nil
	case 0xcc, 0xd0:
		return 1, 1, kindFixed, nil
	case 0xcd, 0xd1:
		return 1, 2, kindFixed, nil
	case 0xce, 0xd2:
		return 1, 4, kindFixed, nil
	case 0xcf, 0xd3:
		return 1, 8, kindFixed, nil
	case 0xc1:
		return 0, 0, 0, fmt.Errorf("0xc1 is never used in msgpack")
	}
	return 0, 0, 0, fmt.Errorf("msgpack ext type 0x%02x is not used by this protocol", c)
}

// Field accessors. They report a missing key and a key of the wrong type
// the same way: ok is false.

func (f frame) str(key string) (string, bool) {
	s, ok := f[key].(string)
	return s, ok
}

func (f frame) int(key string) (int64, bool) {
	return asInt(f[key])
}

func asInt(v any) (int64, bool) {
	n, ok := v.(int64)
	return n, ok
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}
