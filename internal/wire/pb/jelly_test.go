package pb

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// jellyRoundTrip encodes v and decodes it back.
func jellyRoundTrip(t testing.TB, v any) (any, string, error) {
	t.Helper()
	b, err := appendJelly(nil, v, true)
	if err != nil {
		return nil, "", err
	}
	d := NewDecoder(bytes.NewReader(b))
	d.Vocab = true
	sexp, err := d.Decode()
	if err != nil {
		t.Fatalf("%#v encodes to %x, which does not decode: %v", v, b, err)
	}
	back, err := unjelly(sexp)
	return back, string(appendSexp(nil, sexp, 1000, 0)), err
}

func TestJelly(t *testing.T) {
	for _, tc := range []struct {
		v    any
		sexp string
		back any // nil: v itself
	}{
		{nil, `["None"]`, nil},
		{true, `["boolean" "true"]`, nil},
		{false, `["boolean" "false"]`, nil},
		{int64(-7), `-7`, nil},
		{7, `7`, int64(7)},
		{uint16(7), `7`, int64(7)},
		{2.5, `2.5`, nil},
		{"héllo", `["unicode" "héllo"]`, nil},
		{"None", `["unicode" "None"]`, nil},
		{[]byte("raw"), `"raw"`, nil},
		{[]any{int64(1), "a"}, `["list" 1 ["unicode" "a"]]`, nil},
		{[]string{"echo", "hi"}, `["list" ["unicode" "echo"] ["unicode" "hi"]]`, []any{"echo", "hi"}},
		{Tuple{"a", nil}, `["tuple" ["unicode" "a"] ["None"]]`, nil},
		{map[string]any{"b": int64(2), "a": true}, `["dictionary" [["unicode" "a"] ["boolean" "true"]] [["unicode" "b"] 2]]`, nil},
		{map[string]string{"PATH": "/bin"}, `["dictionary" [["unicode" "PATH"] ["unicode" "/bin"]]]`, map[string]any{"PATH": "/bin"}},
		{map[string]any{}, `["dictionary"]`, nil},
		{[]int{1, 2}, `["list" 1 2]`, []any{int64(1), int64(2)}},
		{localObject(5), `["remote" 5]`, RemoteRef(5)},
		{RemoteRef(3), `["local" 3]`, LocalRef(3)},
	} {
		back, sexp, err := jellyRoundTrip(t, tc.v)
		if err != nil {
			t.Fatalf("%#v: %v", tc.v, err)
		}
		if sexp != tc.sexp {
			t.Errorf("%#v jellies to %s, want %s", tc.v, sexp, tc.sexp)
		}
		want := tc.back
		if want == nil {
			want = tc.v
		}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("%#v comes back as %#v, want %#v", tc.v, back, want)
		}
	}
}

func TestJellyFailure(t *testing.T) {
	sent := unauthorizedLogin("bad")
	back, sexp, err := jellyRoundTrip(t, sent)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sexp, `["twisted.spread.pb.CopyableFailure" ["dictionary" [["unicode" "count"] 0] [["unicode" "type"] "twisted.cred.error.UnauthorizedLogin"]`) {
		t.Errorf("failure jellies to %s", sexp)
	}
	got, ok := back.(*RemoteError)
	if !ok || !reflect.DeepEqual(got, sent) {
		t.Fatalf("came back as %#v", back)
	}
	if !errors.Is(got, ErrUnauthorizedLogin) || errors.Is(got, ErrNoSuchMethod) {
		t.Errorf("errors.Is by type and parents is wrong for %v", got)
	}
	if !errors.Is(noSuchMethod("x"), &RemoteError{Type: "builtins.AttributeError"}) {
		t.Error("NoSuchMethod is not an AttributeError")
	}
}

// unjellyText decodes a jelly s-expression written as Go values.
func TestUnjelly(t *testing.T) {
	ref := func(id int64, v any) []any { return []any{b("reference"), id, v} }
	deref := func(id int64) []any { return []any{b("dereference"), id} }
	shared := []any{b("list"), int64(1)}
	for _, tc := range []struct {
		name string
		sexp any
		want any
		err  string
	}{
		{"shared list", []any{b("list"), ref(1, shared), deref(1)}, []any{[]any{int64(1)}, []any{int64(1)}}, ""},
		{"set", []any{b("set"), int64(1)}, []any{int64(1)}, ""},
		{"copyable", []any{b("my.module.Thing"), []any{b("dictionary")}}, Copy{Class: "my.module.Thing", State: map[string]any{}}, ""},
		{"unpersistable", []any{b("unpersistable"), b("why")}, Unpersistable{Reason: "why"}, ""},
		{"bytes key", []any{b("dictionary"), []any{b("k"), int64(1)}}, map[string]any{"k": int64(1)}, ""},
		{"circular", ref(1, []any{b("list"), deref(1)}), nil, "circular"},
		{"unknown dereference", deref(9), nil, "unknown id 9"},
		{"reference used twice", []any{b("list"), ref(1, shared), ref(1, shared)}, nil, "used twice"},
		{"module", []any{b("module"), b("os")}, nil, `unsupported type "module"`},
		{"class", []any{b("class"), b("os.system")}, nil, `unsupported type "class"`},
		{"function", []any{b("function"), b("os.system")}, nil, `unsupported type "function"`},
		{"empty", []any{}, nil, "empty expression"},
		{"no type", []any{int64(1)}, nil, "not a type name"},
		{"bad boolean", []any{b("boolean"), b("maybe")}, nil, "not true or false"},
		{"unicode without bytes", []any{b("unicode")}, nil, "without its bytes"},
		{"int key", []any{b("dictionary"), []any{int64(1), int64(1)}}, nil, "key of type int64"},
		{"bad entry", []any{b("dictionary"), int64(1)}, nil, "not a [key, value] pair"},
		{"remote without id", []any{b("remote")}, nil, "needs one id"},
		{"float", 1.5, 1.5, ""},
		{"many small dereferences", append([]any{b("list"), ref(1, shared)}, repeat(deref(1), 65)...), append([]any{[]any{int64(1)}}, repeat([]any{int64(1)}, 65)...), ""},
		{"a large value dereferenced often", append([]any{b("list"), ref(1, append([]any{b("list")}, repeat(int64(1), 100_000)...))}, repeat(deref(1), 10)...), nil, "more than 1048576 values"},
		{"dereferences doubling", doubling(32), nil, "more than 1048576 values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := unjelly(tc.sexp)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("unjelly error = %v; want one with %q", err, tc.err) // got may be huge
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("unjelly = %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}

// doubling is a list of n references, each to a list of two dereferences
// of the one before: 64 dereferences in 2n+1 expressions that stand for
// 2^n values.
func doubling(n int) []any {
	out := []any{b("list"), []any{b("reference"), int64(0), []any{b("list"), int64(1)}}}
	for i := 1; i <= n; i++ {
		pair := []any{b("list"), []any{b("dereference"), int64(i - 1)}, []any{b("dereference"), int64(i - 1)}}
		out = append(out, []any{b("reference"), int64(i), pair})
	}
	return out
}

func TestJellyRefuses(t *testing.T) {
	deep := any(nil)
	for range 70 {
		deep = []any{deep}
	}
	for _, v := range []any{struct{}{}, map[int]int{1: 1}, deep, uint64(1 << 63), make(chan int)} {
		if _, err := appendJelly(nil, v, true); err == nil {
			t.Errorf("%T encoded", v)
		}
	}
}

func b(s string) []byte { return []byte(s) }

// FuzzJelly decodes arbitrary Banana as jelly: never a panic, and what
// decodes to plain values encodes back to the same values.
func FuzzJelly(f *testing.F) {
	for _, e := range decodeCapture(f, readCapture(f, "testdata/session.pb"))[:60] {
		f.Add(e.raw)
	}
	f.Add([]byte("\x03\x80\x04\x87\x01\x81\x02\x80\x08\x87\x00\x81")) // ["reference" 1 ["list" 0]]
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in))
		d.Vocab = true
		d.MaxMessage = 4096
		sexp, err := d.Decode()
		if err != nil {
			return
		}
		v, err := unjelly(sexp)
		if err != nil || !plain(v) {
			return
		}
		back, _, err := jellyRoundTrip(t, v)
		if err != nil {
			t.Fatalf("%#v does not round-trip: %v", v, err)
		}
		if !reflect.DeepEqual(neutral(back), neutral(v)) {
			t.Fatalf("%#v came back as %#v", v, back)
		}
	})
}

// plain is true for values made only of what jelly encodes as it decodes.
func plain(v any) bool {
	switch v := v.(type) {
	case nil, bool, int64, float64, string, []byte:
		f, ok := v.(float64)
		return !ok || f == f // NaN is not equal to itself
	case Tuple:
		return plain([]any(v))
	case []any:
		for _, e := range v {
			if !plain(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range v {
			if !plain(e) {
				return false
			}
		}
		return true
	}
	return false
}
