package secrets

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets map[string]string
		in      string
		want    string
	}{
		{"nothing to hide", map[string]string{"pw": "hunter2"}, "all clear", "all clear"},
		{"Buildbot's marker", map[string]string{"pw": "hunter2"}, "login -p hunter2 ok", "login -p <pw> ok"},
		{"every occurrence", map[string]string{"pw": "hunter2"}, "hunter2hunter2 hunter2", "<pw><pw> <pw>"},
		{"longest wins at one start", map[string]string{"a": "abcdef", "b": "abcdefgh"}, "xabcdefghx", "x<b>x"},
		{"overlap hides the whole run", map[string]string{"a": "abcdef", "b": "defghi"}, "xabcdefghix", "x<a>x"},
		{"self-overlapping value", map[string]string{"a": "ababab"}, "abababab-ababab", "<a>-<a>"},
		{"adjacent values get a marker each", map[string]string{"a": "abcdef", "b": "uvwxyz"}, "abcdefuvwxyz", "<a><b>"},
		{"markers are not searched again", map[string]string{"a": "abcdef", "b": "<a>xyz!"}, "abcdefxyz!", "<a>xyz!"},
		{"too short is skipped", map[string]string{"short": "abcde", "pw": "hunter2"}, "abcde hunter2", "abcde <pw>"},
		{"white space only is skipped", map[string]string{"ws": "      \t"}, "a      \tb", "a      \tb"},
		{"same value, first name", map[string]string{"z": "hunter2", "a": "hunter2"}, "hunter2", "<a>"},
		{"each line of a multi-line value", map[string]string{"key": "line-one\nline-two"}, "line-two\nline-one\nline-two!", "<key>\n<key>!"},
		{"no secrets", nil, "hunter2", "hunter2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRedactor(tc.secrets)
			if got := r.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
			// The stream form agrees, whatever the split.
			for split := range len(tc.in) + 1 {
				if got := streamed(t, r, tc.in[:split], tc.in[split:]); got != tc.want {
					t.Errorf("split at %d: %q, want %q", split, got, tc.want)
				}
			}
			if got := streamed(t, r, bytesOneByOne(tc.in)...); got != tc.want {
				t.Errorf("one byte at a time: %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRedactNoCopy(t *testing.T) {
	r := NewRedactor(map[string]string{"pw": "hunter2"})
	s := strings.Repeat("clean output\n", 100)
	if n := testing.AllocsPerRun(10, func() { _ = r.Redact(s) }); n != 0 {
		t.Errorf("Redact of clean text allocates %v times", n)
	}
}

// TestWriterHoldsBack checks what a Writer keeps back before Flush: the
// longest value minus one byte, and nothing after a newline when no value
// holds one.
func TestWriterHoldsBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets map[string]string
		in      string
		before  string // written before Flush
	}{
		{"tail that could start a value", map[string]string{"pw": "hunter2"}, "abcdefgh", "ab"},
		{"whole lines flow", map[string]string{"pw": "hunter2"}, "line one\nline two\n", "line one\nline two\n"},
		{"partial last line", map[string]string{"pw": "hunter2"}, "one\ntwo", "one\n"},
		{"a value with a newline holds lines back", map[string]string{"key": "abc\ndef"}, "one\ntwo\nthree\n", "one\ntwo\n"},
		{"no secrets, nothing held", nil, "abc", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewRedactor(tc.secrets).NewWriter(&out)
			if n, err := w.Write([]byte(tc.in)); n != len(tc.in) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if out.String() != tc.before {
				t.Errorf("before Flush: %q, want %q", out.String(), tc.before)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.in {
				t.Errorf("after Flush: %q, want %q", out.String(), tc.in)
			}
		})
	}
}

// TestWriterLargeWrites crosses window boundaries with values placed
// across them.
func TestWriterLargeWrites(t *testing.T) {
	r := NewRedactor(map[string]string{"pw": "s3cr3t-value"})
	var in, want strings.Builder
	for i := range 20000 {
		if i%997 == 0 {
			in.WriteString("s3cr3t-value")
			want.WriteString("<pw>")
		}
		in.WriteString("0123456789")
		want.WriteString("0123456789")
	}
	for _, size := range []int{1 << 20, window, window - 5, window + 7, 4093} {
		var chunks []string
		s := in.String()
		for len(s) > 0 {
			n := min(size, len(s))
			chunks = append(chunks, s[:n])
			s = s[n:]
		}
		if got := streamed(t, r, chunks...); got != want.String() {
			t.Errorf("writes of %d bytes: output differs (len %d, want %d)", size, len(got), want.Len())
		}
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterError(t *testing.T) {
	boom := bytes.ErrTooLarge
	w := NewRedactor(map[string]string{"pw": "hunter2"}).NewWriter(failWriter{boom})
	if _, err := w.Write([]byte("line\n")); err != boom {
		t.Fatalf("Write error = %v, want %v", err, boom)
	}
	if _, err := w.Write([]byte("more")); err != boom {
		t.Errorf("second Write error = %v, want the first one", err)
	}
	if err := w.Flush(); err != boom {
		t.Errorf("Flush error = %v, want the first one", err)
	}
}

func streamed(t testing.TB, r *Redactor, chunks ...string) string {
	t.Helper()
	var out bytes.Buffer
	w := r.NewWriter(&out)
	for _, c := range chunks {
		if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func bytesOneByOne(s string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i : i+1]
	}
	return out
}

// TestWriterRunAcrossWrites: a run of overlapping values that began in
// one write and is extended in the next hides all of it.
func TestWriterRunAcrossWrites(t *testing.T) {
	r := NewRedactor(map[string]string{"a": "aaaaaa"})
	// The first write decides "xa": a marker whose run reaches the end of
	// the write, with "aaaaa" held back. The second finds the value at the
	// start of those, running one byte further: that byte is hidden too.
	if got := streamed(t, r, "xaaaaaa", "a-----"); got != "x<a>-----" {
		t.Errorf("got %q, want x<a>-----", got)
	}
}
