package secrets

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"unsafe"
)

// Redactor replaces secret values in text with "<NAME>", the form Buildbot
// writes (Properties.cleanupTextFromSecrets). It is immutable and safe for
// concurrent use; Redact works on strings, NewWriter on a stream.
//
// Matching: every byte that belongs to an occurrence of some value is
// hidden. Where occurrences overlap, the covered run becomes one marker,
// named after the longest value starting first; otherwise each occurrence
// gets its own marker, as in Buildbot. (Buildbot replaces the values one
// after the other, longest first, which leaves the tail of a value that
// overlaps another in clear.) Each line of a value that spans several
// lines is hidden on its own too, so a key printed in part is still
// hidden. Text that a marker creates is never searched again.
type Redactor struct {
	pats        []pattern              // longest first
	byPrefix    map[uint32][]int32     // indexes into pats (so longest first) by their first four bytes
	shift       *[1 << shiftBits]uint8 // Wu-Manber: how far a 4-byte block lets the search skip
	minLen      int                    // shortest value (at least MinSecretLen)
	maxLen      int
	newlineFree bool // no value contains '\n': text up to a newline can be decided at once
}

type pattern struct {
	value  []byte
	marker []byte // "<NAME>"
}

// NewRedactor returns a Redactor for secrets (name → value). When two
// names have the same value, the marker names the first in sorted order.
// Values shorter than MinSecretLen, which a Chain never gives, are left
// out (the search reads 4-byte blocks of every value); so are lines of a
// value that are that short.
func NewRedactor(secrets map[string]string) *Redactor { return newRedactor(secrets, nil) }

// newRedactor is NewRedactor, also hiding the retired values of each name
// (the values it had before, see Retired) behind the name's marker. A
// value in use wins over a retired one for the marker.
func newRedactor(secrets map[string]string, retired map[string][]string) *Redactor {
	r := &Redactor{newlineFree: true}
	names := make([]string, 0, len(secrets)+len(retired))
	for n := range secrets {
		names = append(names, n)
	}
	for n := range retired {
		if _, ok := secrets[n]; !ok {
			names = append(names, n)
		}
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
	// values of name: the one in use, then the retired ones
	values := func(n string) []string {
		if v, ok := secrets[n]; ok {
			return append([]string{v}, retired[n]...)
		}
		return retired[n]
	}
	for _, n := range names {
		if v, ok := secrets[n]; ok {
			add(n, v)
		}
	}
	for _, n := range names {
		for _, v := range retired[n] {
			add(n, v)
		}
	}
	for _, n := range names { // lines after whole values: a whole value wins
		for _, v := range values(n) {
			if strings.ContainsAny(v, "\r\n") {
				for line := range strings.FieldsFuncSeq(v, func(c rune) bool { return c == '\n' || c == '\r' }) {
					add(n, line)
				}
			}
		}
	}
	slices.SortStableFunc(r.pats, func(a, b pattern) int { return cmp.Compare(len(b.value), len(a.value)) })
	r.index()
	return r
}

// Empty is true when there is nothing to redact.
func (r *Redactor) Empty() bool { return len(r.pats) == 0 }

// index builds the search tables: the values by their first four bytes,
// and Wu-Manber's shift table over 4-byte blocks of the first minLen bytes
// of each value. A window of minLen bytes whose last block is in no value
// can slide by up to minLen-3 bytes at once, so long random tokens are
// searched a block every several bytes, whatever their number.
func (r *Redactor) index() {
	if len(r.pats) == 0 {
		return
	}
	r.minLen = len(r.pats[len(r.pats)-1].value)
	r.byPrefix = map[uint32][]int32{}
	r.shift = new([1 << shiftBits]uint8)
	for i := range r.shift {
		r.shift[i] = uint8(min(r.minLen-blockLen+1, 255))
	}
	for i, p := range r.pats {
		r.byPrefix[load32(p.value, 0)] = append(r.byPrefix[load32(p.value, 0)], int32(i))
		for end := blockLen; end <= r.minLen; end++ {
			h := blockHash(load32(p.value, end-blockLen))
			r.shift[h] = min(r.shift[h], uint8(min(r.minLen-end, 255)))
		}
	}
}

const blockLen = 4 // at most MinSecretLen: every value holds a block

func load32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

// blockHash maps a 4-byte block to an entry of the shift table.
func blockHash(v uint32) uint32 { return (v * 0x9e3779b1) >> (32 - shiftBits) }

const shiftBits = 12 // a 4 KiB table: cheap to build for each build's values

// Redact returns s with every secret value replaced by its marker. When
// s holds none, s itself is returned, without copying.
func (r *Redactor) Redact(s string) string {
	if len(r.pats) == 0 {
		return s
	}
	// redact only reads buf.
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	out, _, hit := r.redact(nil, b, len(b), 0)
	if !hit {
		return s
	}
	return string(out)
}

// redact finds the values in buf[:d], the part of buf that can be decided:
// every occurrence starting before d lies within buf. The first reach bytes
// of buf are covered by a marker already written. When buf[:d] holds a
// value, redact appends its redacted form to out and hit is true; otherwise
// out is unchanged and the redacted form is buf[min(reach, d):d], not
// copied. newReach is how far into the bytes after d the last marker
// reaches. Occurrences are met in the order of their starts.
func (r *Redactor) redact(out, buf []byte, d, reach int) (_ []byte, newReach int, hit bool) {
	m := r.minLen
	for i, end := 0, min(d, len(buf)-m+1); i < end; {
		if s := r.shift[blockHash(load32(buf, i+m-blockLen))]; s > 0 {
			i += int(s)
			continue
		}
		for _, pi := range r.byPrefix[load32(buf, i)] {
			p := &r.pats[pi]
			if !bytes.HasPrefix(buf[i:], p.value) {
				continue
			}
			if i >= reach { // a new run: the text before it, then a marker
				out = append(out, buf[reach:i]...)
				out = append(out, p.marker...)
			} // else it overlaps the current run, which now ends later
			reach = max(reach, i+len(p.value))
			hit = true
			break
		}
		i++
	}
	if hit && reach < d {
		out = append(out, buf[reach:d]...)
	}
	return out, max(reach-d, 0), hit
}
