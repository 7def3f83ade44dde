package secrets

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
)

// MinSecretLen is the shortest value (white space around it not counted) a
// Redactor hides. A shorter value turns up by chance in ordinary output so
// often ("1234" in every fifth build number, "abc" in words) that hiding it
// would mangle logs, and the pattern of markers left where it stood would
// tell the value anyway: redaction cannot protect it, so NewRedactor lists
// it in Skipped for the caller to warn about. Buildbot skips only empty and
// white-space values.
const MinSecretLen = 4

// Redactor replaces secret values in text with "<NAME>", the form Buildbot
// writes (Properties.cleanupTextFromSecrets). It is immutable and safe for
// concurrent use; Redact works on strings, NewWriter on a stream.
//
// Matching: every byte that belongs to an occurrence of some value is
// hidden. Where occurrences overlap, the covered run becomes one marker,
// named after the longest value starting first; otherwise each occurrence
// gets its own marker, as in Buildbot. (Buildbot replaces the
// values one after the other, longest first, which leaves the tail of a
// value that overlaps another in clear.) Each line of a value that spans
// several lines is hidden on its own too, so a key printed in part is
// still hidden. Text that a marker creates is never searched again.
type Redactor struct {
	pats        []pattern // longest first
	maxLen      int
	newlineFree bool // no value contains '\n': text up to a newline can be decided at once
	skipped     []string
}

type pattern struct {
	value  []byte
	marker []byte // "<NAME>"
}

// NewRedactor returns a Redactor for secrets (name → value). Values
// shorter than MinSecretLen are skipped (see Skipped). When two names have
// the same value, the marker names the first in sorted order.
func NewRedactor(secrets map[string]string) *Redactor {
	r := &Redactor{newlineFree: true}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	slices.Sort(names)
	seen := map[string]bool{}
	add := func(name, v string) {
		if len(strings.TrimSpace(v)) < MinSecretLen || seen[v] {
			return
		}
		seen[v] = true
		r.pats = append(r.pats, pattern{value: []byte(v), marker: []byte("<" + name + ">")})
		r.maxLen = max(r.maxLen, len(v))
		if strings.IndexByte(v, '\n') >= 0 {
			r.newlineFree = false
		}
	}
	for _, n := range names {
		v := secrets[n]
		if len(strings.TrimSpace(v)) < MinSecretLen {
			r.skipped = append(r.skipped, n)
			continue
		}
		add(n, v)
	}
	for _, n := range names { // lines after whole values: a whole value wins
		if v := secrets[n]; strings.ContainsAny(v, "\r\n") {
			for line := range strings.FieldsFuncSeq(v, func(c rune) bool { return c == '\n' || c == '\r' }) {
				add(n, line)
			}
		}
	}
	slices.SortStableFunc(r.pats, func(a, b pattern) int { return cmp.Compare(len(b.value), len(a.value)) })
	return r
}

// Skipped names the secrets whose values are too short to redact.
func (r *Redactor) Skipped() []string { return slices.Clone(r.skipped) }

// Empty is true when there is nothing to redact.
func (r *Redactor) Empty() bool { return len(r.pats) == 0 }

// Redact returns s with every secret value replaced by its marker. When
// s holds none, s itself is returned, without copying.
func (r *Redactor) Redact(s string) string {
	found := false
	for _, p := range r.pats {
		if strings.Contains(s, string(p.value)) {
			found = true
			break
		}
	}
	if !found {
		return s
	}
	b := []byte(s)
	out, _ := r.redact(make([]byte, 0, len(b)), b, len(b), 0, make([]int32, len(b)))
	return string(out)
}

// redact appends to out the redacted form of buf[:d], the part of buf that
// can be decided: every occurrence starting before d lies within buf. The
// first reach bytes of buf are covered by a marker already written. It
// returns how far into the bytes after d the last marker reaches. cov is
// scratch space of at least d zeroes, left zeroed.
func (r *Redactor) redact(out, buf []byte, d, reach int, cov []int32) ([]byte, int) {
	found := false
	for i, p := range r.pats {
		for off := 0; off < d; {
			j := bytes.Index(buf[off:], p.value)
			if j < 0 || off+j >= d {
				break
			}
			if s := off + j; cov[s] == 0 { // longest first: the first to claim s is the longest
				cov[s] = int32(i + 1)
				found = true
			}
			off += j + 1
		}
	}
	if found {
		for i := range d {
			c := cov[i]
			if c == 0 {
				continue
			}
			cov[i] = 0
			p := &r.pats[c-1]
			end := i + len(p.value)
			if i < reach { // inside (or touching) the current marker's run
				reach = max(reach, end)
				continue
			}
			out = append(out, buf[reach:i]...)
			out = append(out, p.marker...)
			reach = end
		}
	}
	if reach < d {
		out = append(out, buf[reach:d]...)
	}
	return out, max(reach-d, 0)
}
