package msgpack

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// decodeFrame decodes b as decodeRequest does, but an update's args too
// as value decodes them: the reference decodeRequest's refinement is
// checked against.
func decodeFrame(b []byte) (frame, error) {
	if err := check(b); err != nil {
		return nil, err
	}
	v, _ := value(b, 0)
	return frame(v.(map[string]any)), nil
}

// updateFrame encodes an update of command id as a Go worker sends it:
// each output with its newline offsets and times.
func updateFrame(t testing.TB, seq int64, id string, us ...wire.Update) []byte {
	b, err := encodeFrame(frame{"op": "update", "seq_number": seq, "command_id": id, "args": encodeUpdates(us, time.Unix(1700000000, 5e8))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envHeader is a shell command's header with its environment, as the
// workers send it before every command.
var envHeader = "bash -c true\n in dir /w/b (timeout 1200 secs)\n environment:\n" + strings.Repeat("  SOME_VARIABLE=/some/value/of/a/path\n", 30)

// sameRequest fails unless decodeRequest(b) is decodeFrame(b), but for an
// update's args, which it may have decoded as decodeUpdates does.
func sameRequest(t *testing.T, b []byte) {
	t.Helper()
	got, gerr := decodeRequest(b)
	want, werr := decodeFrame(b)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("decodeRequest: %v; decodeFrame: %v", gerr, werr)
	}
	if werr != nil {
		return
	}
	if us, ok := got["args"].([]wire.Update); ok {
		wantUs, err := decodeUpdates(want["args"])
		if err != nil || fmt.Sprintf("%#v", us) != fmt.Sprintf("%#v", wantUs) {
			t.Fatalf("update args: %#v\ndecodeUpdates of decodeFrame's: %#v, %v", us, wantUs, err)
		}
		if want["op"] != "update" {
			t.Fatalf("args decoded as updates in a %v frame", want["op"])
		}
		got["args"], want["args"] = nil, nil
	}
	if a, b := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); a != b {
		t.Fatalf("decodeRequest: %s\ndecodeFrame:   %s", a, b)
	}
}

func TestDecodeRequest(t *testing.T) {
	for name, b := range realFrames(t) {
		t.Run(name, func(t *testing.T) { sameRequest(t, b) })
	}
	frames := map[string][]byte{
		"output":     updateFrame(t, 300, "7.2", wire.Update{Key: "header", Text: envHeader}, wire.Update{Key: "stdout", Text: "ok\n"}),
		"rc":         updateFrame(t, 301, "7.2", wire.Update{Key: "rc", Int: 0}, wire.Update{Key: "elapsed", Float: 0.25}),
		"log":        updateFrame(t, 302, "7.2", wire.Update{Key: "log", Log: "junit", Text: "<xml/>\n"}),
		"value":      updateFrame(t, 303, "7.2", wire.Update{Key: "files", Value: []any{"a", "b"}}),
		"bare":       mustEncode(t, frame{"op": "update", "seq_number": int64(1), "command_id": "x", "args": []any{[]any{"stderr", "bare text"}}}),
		"bad pair":   mustEncode(t, frame{"op": "update", "seq_number": int64(1), "command_id": "x", "args": []any{[]any{"stderr"}}}),
		"no text":    mustEncode(t, frame{"op": "update", "seq_number": int64(1), "command_id": "x", "args": []any{[]any{"stdout", []any{int64(1)}}}}),
		"not update": mustEncode(t, frame{"op": "complete", "seq_number": int64(1), "command_id": "x", "args": []any{[]any{"stdout", "x"}}}),
	}
	for name, b := range frames {
		t.Run(name, func(t *testing.T) { sameRequest(t, b) })
	}
	if f, err := decodeRequest(frames["output"]); err != nil {
		t.Fatal(err)
	} else if us, ok := f["args"].([]wire.Update); !ok || len(us) != 2 || us[0].Text != envHeader {
		t.Errorf("output update: args %#v, want the header and stdout as wire.Updates", f["args"])
	}
}

// TestDecodeRequestAllocations: an update with a header of 33 lines and a
// line of stdout costs the frame's map, its seq_number and command_id, the
// updates and their texts (9 allocations): not a list of offsets and one of
// times and a boxed float per line, nor a box for each name of the
// protocol (87).
func TestDecodeRequestAllocations(t *testing.T) {
	b := updateFrame(t, 300, "7.2", wire.Update{Key: "header", Text: envHeader}, wire.Update{Key: "stdout", Text: "ok\n"})
	if n := testing.AllocsPerRun(100, func() {
		if _, err := decodeRequest(b); err != nil {
			t.Fatal(err)
		}
	}); n > 9 {
		t.Errorf("decodeRequest of an update with a 33-line header: %.0f allocations, want at most 9", n)
	}
}

func mustEncode(t testing.TB, f frame) []byte {
	b, err := encodeFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecodeRequest: decodeRequest decodes and refuses what decodeFrame
// does, an update's args as decodeUpdates makes them.
func FuzzDecodeRequest(f *testing.F) {
	for _, b := range realFrames(f) {
		f.Add(b)
	}
	f.Add(updateFrame(f, 300, "7.2", wire.Update{Key: "header", Text: envHeader}, wire.Update{Key: "rc", Int: 1}))
	f.Add(updateFrame(f, 1, "x", wire.Update{Key: "log", Log: "l", Text: "a\nb"}, wire.Update{Key: "elapsed", Float: 1}))
	f.Fuzz(func(t *testing.T, b []byte) { sameRequest(t, b) })
}

// TestDecodeRequestBoundsWhatItAllocates: an update whose args claim many
// elements that are not [key, value] pairs costs no more than the generic
// path (decodeFrame, then decodeUpdates) it falls back to: updateArgs
// must not make room for updates its args cannot hold before it finds out.
func TestDecodeRequestBoundsWhatItAllocates(t *testing.T) {
	const n = 1 << 16
	b := mustEncode(t, frame{"op": "update", "seq_number": int64(1), "command_id": "x", "args": make([]any, n)}) // n nils
	allocated := func(decode func([]byte) (frame, error)) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f, err := decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeUpdates(f["args"]); err == nil {
			t.Fatal("nils decoded as updates")
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	generic, got := allocated(decodeFrame), allocated(decodeRequest)
	if float64(got) > 1.1*float64(generic) {
		t.Errorf("decodeRequest and decodeUpdates of %d nils allocated %d bytes; decodeFrame and decodeUpdates %d", n, got, generic)
	}
}

// TestDecodeRequestSharesNothing: a frame's buffer is given back once
// decoded and the next frame read into it: what decodeRequest made of the
// first (texts of its updates, values kept as they are) is intact after.
func TestDecodeRequestSharesNothing(t *testing.T) {
	first := updateFrame(t, 1, "7.2", wire.Update{Key: "header", Text: envHeader}, wire.Update{Key: "stdout", Text: "first\n"},
		wire.Update{Key: "log", Log: "junit", Text: "<xml/>\n"}, wire.Update{Key: "files", Value: []any{"a.txt", []byte("bin")}})
	second := updateFrame(t, 2, "7.3", wire.Update{Key: "header", Text: strings.Repeat("x", len(envHeader))}, wire.Update{Key: "stdout", Text: "other\n"},
		wire.Update{Key: "log", Log: "other", Text: "<zzz/>\n"}, wire.Update{Key: "files", Value: []any{"b.txt", []byte("xxx")}})
	buf := make([]byte, max(len(first), len(second)))
	f, err := decodeRequest(buf[:copy(buf, first)])
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%#v", f)
	if _, err := decodeRequest(buf[:copy(buf, second)]); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%#v", f); got != want {
		t.Errorf("the first frame after the second was read into its buffer:\n%s\nwant\n%s", got, want)
	}
}
