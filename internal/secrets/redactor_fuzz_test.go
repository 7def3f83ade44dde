package secrets

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzRedact checks, for any text, secrets and split of the text into
// writes: the stream form equals Redact; no value is left in the output;
// and the text outside the markers is exactly the input bytes that no
// occurrence of a value covers.
func FuzzRedact(f *testing.F) {
	f.Add("login -p hunter2 ok", "hunter2", "", "", []byte{3, 9})
	f.Add("xabcdefghix", "abcdef", "defghi", "abcdefgh", []byte{2, 2, 2})
	f.Add("abababababab", "ababab", "bababa", "", []byte{1})
	f.Add("line-one\nline-two\nx", "line-one\nline-two", "", "", []byte{5, 1})
	f.Fuzz(func(t *testing.T, text, s0, s1, s2 string, splits []byte) {
		// Markers are found below by their angle brackets.
		clean := strings.NewReplacer("<", "[", ">", "]").Replace
		text = clean(text)
		secrets := map[string]string{}
		for i, s := range []string{s0, s1, s2} {
			if s != "" {
				secrets[fmt.Sprintf("S%d", i)] = clean(s)
			}
		}
		r := NewRedactor(secrets)
		got := r.Redact(text)

		var chunks []string
		rest := text
		for _, b := range splits {
			n := min(int(b), len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)
		if s := streamed(t, r, chunks...); s != got {
			t.Fatalf("streamed %q, Redact %q", s, got)
		}
		for _, p := range r.pats {
			if strings.Contains(got, string(p.value)) {
				t.Fatalf("output %q still holds %q", got, p.value)
			}
		}
		// Text outside markers = input bytes no occurrence covers.
		covered := make([]bool, len(text))
		for _, p := range r.pats {
			v := string(p.value)
			for i := 0; i+len(v) <= len(text); i++ {
				if text[i:i+len(v)] == v {
					for j := i; j < i+len(v); j++ {
						covered[j] = true
					}
				}
			}
		}
		var want strings.Builder
		for i := range len(text) {
			if !covered[i] {
				want.WriteByte(text[i])
			}
		}
		var outside strings.Builder
		for s := got; s != ""; {
			i := strings.IndexByte(s, '<')
			if i < 0 {
				outside.WriteString(s)
				break
			}
			outside.WriteString(s[:i])
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				t.Fatalf("unterminated marker in %q", got)
			}
			s = s[i+j+1:]
		}
		if outside.String() != want.String() {
			t.Fatalf("outside markers %q, want the uncovered bytes %q (output %q)", outside.String(), want.String(), got)
		}
	})
}
