package msgpack

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestEncodeResponse: encodeResponse's bytes decode to the frame respond
// used to build and encode as a map, for each kind of result and failure.
func TestEncodeResponse(t *testing.T) {
	tests := []struct {
		seq    int64
		result any
		err    error
	}{
		{0, nil, nil},
		{math.MaxInt64, nil, nil},
		{-1, "short", nil},
		{7, strings.Repeat("x", 31), nil},
		{7, strings.Repeat("x", 32), nil},
		{7, strings.Repeat("x", 255), nil},
		{7, strings.Repeat("x", 256), nil},
		{7, strings.Repeat("x", 70000), nil},
		{8, map[string]any{"a": []any{int64(1), "b"}}, nil},
		{9, int64(300), nil},
		{10, nil, errors.New("Command c does not exist.")},
		{11, "ignored", errors.New(strings.Repeat("e", 40))},
	}
	for _, tt := range tests {
		want := frame{"op": "response", "seq_number": tt.seq, "result": tt.result}
		if tt.err != nil {
			want["result"], want["is_exception"] = tt.err.Error(), true
		}
		b, err := encodeResponse(tt.seq, tt.result, tt.err)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("%d: %v", tt.seq, err)
		}
		if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
			t.Errorf("got  %.200s\nwant %.200s", g, w)
		}
		sameAsReference(t, b)
	}
	if _, err := encodeResponse(1, make(chan int), nil); err == nil {
		t.Error("a result msgpack cannot encode: no error")
	}
}

// TestEncodeResponseAllocs: the answer to an update or a complete (no
// result) is one allocation, its bytes (building the frame and encoding
// it as a map took 4).
func TestEncodeResponseAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = encodeResponse(12345, nil, nil) }); n != 1 {
		t.Errorf("encodeResponse allocates %.0f times, want 1", n)
	}
}
