package pb

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestBananaEncoding(t *testing.T) {
	for _, tc := range []struct {
		v     any
		vocab bool
		hex   string
	}{
		{int64(0), false, "0081"},
		{int64(127), false, "7f81"},
		{int64(128), false, "000181"},
		{int64(-1), false, "0183"},
		{int64(1<<31 - 1), false, "7f7f7f7f0781"},
		{int64(1 << 31), false, "0000000008" + "85"},
		{int64(-1 << 31), false, "0000000008" + "83"},
		{int64(-1<<31 - 1), false, "0100000008" + "86"},
		{int64(math.MinInt64), false, "00000000000000000001" + "86"},
		{1.5, false, "843ff8000000000000"},
		{[]byte("abc"), false, "0382616263"},
		{"", false, "0082"},
		{"None", true, "0187"},
		{"None", false, "04824e6f6e65"},
		{"uncache", true, "1f87"},
		{[]any{}, false, "0080"},
		{[]any{"version", int64(6)}, true, "0280138706" + "81"},
	} {
		got, err := AppendExpr(nil, tc.v, tc.vocab)
		if err != nil {
			t.Fatalf("%#v: %v", tc.v, err)
		}
		if hex.EncodeToString(got) != tc.hex {
			t.Errorf("%#v: %x, want %s", tc.v, got, tc.hex)
		}
		d := NewDecoder(bytes.NewReader(got))
		d.Vocab = tc.vocab
		back, err := d.Decode()
		if err != nil {
			t.Fatalf("%#v: decoding: %v", tc.v, err)
		}
		if !reflect.DeepEqual(back, normalise(tc.v)) {
			t.Errorf("%#v decodes to %#v", tc.v, back)
		}
	}
}

// normalise turns an encodable value into what decoding gives back.
func normalise(v any) any {
	switch v := v.(type) {
	case string:
		return []byte(v)
	case int:
		return int64(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalise(e)
		}
		return out
	}
	return v
}

func TestBananaRefuses(t *testing.T) {
	long := strings.Repeat("\x01", 65) + "\x81"
	for _, tc := range []struct {
		name  string
		input string // hex, or raw when it starts with "raw:"
		max   int
		want  string
	}{
		{"string over Banana's 640 KiB", "01002882", 0, "string length of 655361"},
		{"string over the message limit", "7f0182", 100, "message of"},
		{"list over Banana's 640 KiB", "01002880", 0, "list length of 655361"},
		{"list longer than the bytes left", "7f0180", 100, "list of"},
		{"prefix over 64 digits", "raw:" + long, 0, "number prefix longer than 64"},
		{"integer over 64 bits", "7f7f7f7f7f7f7f7f7f7f81", 0, "does not fit 64 bits"},
		{"unknown type byte", "0188", 0, "unknown type byte 0x88"},
		{"vocabulary index", "2087", 0, "unknown vocabulary index 32"},
		{"vocabulary index zero", "0087", 0, "unknown vocabulary index 0"},
		{"truncated string", "05826162", 0, "unexpected EOF"},
		{"truncated list", "028001", 0, "unexpected EOF"},
		{"truncated float", "843ff8", 0, "unexpected EOF"},
		{"nesting over 64", strings.Repeat("0180", 65), 0, "nested deeper than 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in []byte
			if raw, ok := strings.CutPrefix(tc.input, "raw:"); ok {
				in = []byte(raw)
			} else {
				var err error
				if in, err = hex.DecodeString(tc.input); err != nil {
					t.Fatal(err)
				}
			}
			d := NewDecoder(bytes.NewReader(in))
			d.Vocab = true
			if tc.max > 0 {
				d.MaxMessage = tc.max
			}
			v, err := d.Decode()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode = %#v, %v; want an error with %q", v, err, tc.want)
			}
		})
	}
}

func TestBananaVocabularyNeedsTheDialect(t *testing.T) {
	d := NewDecoder(bytes.NewReader([]byte{1, typeVocab}))
	if _, err := d.Decode(); err == nil || !strings.Contains(err.Error(), "outside the pb dialect") {
		t.Fatalf("err %v", err)
	}
}

func TestBananaEOFBetweenExpressions(t *testing.T) {
	d := NewDecoder(bytes.NewReader([]byte{1, typeInt}))
	if v, err := d.Decode(); err != nil || v != int64(1) {
		t.Fatalf("%v %v", v, err)
	}
	if _, err := d.Decode(); err != io.EOF {
		t.Fatalf("err %v, want io.EOF", err)
	}
}

// TestBananaDeclaredSizesDoNotAllocate: a declared string or list the
// limits refuse costs no memory of its declared size.
func TestBananaDeclaredSizesDoNotAllocate(t *testing.T) {
	big, _ := hex.DecodeString("7f7f1f82") // a string of 524287 bytes, declared only
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		d := NewDecoder(bytes.NewReader(big))
		d.MaxMessage = 1024
		var le *LimitError
		if _, err := d.Decode(); !errors.As(err, &le) {
			t.Fatalf("err %v, want a LimitError", err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 100*64*1024 {
		t.Errorf("refusing 100 declared strings of 512 KiB allocated %d bytes", grew)
	}
}

func FuzzBanana(f *testing.F) {
	for _, s := range readCapture(f, "testdata/session.pb")[:40] {
		f.Add(s.data)
	}
	f.Add([]byte{0x02, 0x80, 0x01, 0x87, 0x84, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in))
		d.Vocab = true
		d.MaxMessage = 4096
		for {
			v, err := d.Decode()
			if err != nil {
				return
			}
			b, err := AppendExpr(nil, v, true)
			if err != nil {
				t.Fatalf("decoded %#v does not encode: %v", v, err)
			}
			d2 := NewDecoder(bytes.NewReader(b))
			d2.Vocab = true
			back, err := d2.Decode()
			if err != nil {
				t.Fatalf("re-encoded %x does not decode: %v", b, err)
			}
			if !bytes.Equal(encodedVocab(back), b) {
				t.Fatalf("round trip differs: %x", b)
			}
		}
	})
}

func encodedVocab(v any) []byte {
	b, _ := AppendExpr(nil, v, true)
	return b
}
