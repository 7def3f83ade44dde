package mq

import (
	"fmt"
	"strings"
)

// Limits on keys and filters. The longest key Buildbot emits has seven
// segments (buildsets/1/builders/2/buildrequests/3/new); the bounds keep a
// client's filter, and the trie walk of a publish, small.
const (
	MaxSegments     = 8   // segments in a key or filter
	MaxSegmentBytes = 128 // bytes in one segment
	MaxPathBytes    = MaxSegments * (MaxSegmentBytes + 1)
)

// Wildcard is the filter segment that matches any one key segment.
const Wildcard = "*"

// A Key is a routing key, one string per segment: {"builds", "12",
// "finished"}. A segment is 1 to MaxSegmentBytes printable ASCII bytes
// other than '/', '*', '"' and '\', so a key written with slashes reads
// back as itself and is a JSON string without escaping.
type Key []string

// String writes k with slashes: builds/12/finished.
func (k Key) String() string { return strings.Join(k, "/") }

// Check says what is wrong with k, or returns nil.
func (k Key) Check() error {
	if len(k) == 0 || len(k) > MaxSegments {
		return fmt.Errorf("key %q has %d segments, want 1 to %d", k.String(), len(k), MaxSegments)
	}
	for i, s := range k {
		if err := checkSegment(s); err != nil {
			return fmt.Errorf("key %q: segment %d: %w", k.String(), i+1, err)
		}
	}
	return nil
}

// A Filter selects keys of its own length: each segment equals the key's,
// or is Wildcard.
type Filter []string

// String writes f with slashes: builds/*/finished.
func (f Filter) String() string { return strings.Join(f, "/") }

// Match reports whether f selects k.
func (f Filter) Match(k Key) bool {
	if len(f) != len(k) {
		return false
	}
	for i, s := range f {
		if s != Wildcard && s != k[i] {
			return false
		}
	}
	return true
}

// ParseFilter reads a filter written with slashes, as a client sends it
// ("builds/*/finished"). It refuses, saying what and where, an empty or
// over-long path, an empty segment, and a segment no key can hold.
func ParseFilter(path string) (Filter, error) {
	if path == "" {
		return nil, fmt.Errorf("empty path")
	}
	if len(path) > MaxPathBytes {
		return nil, fmt.Errorf("path of %d bytes, longer than %d", len(path), MaxPathBytes)
	}
	if n := strings.Count(path, "/") + 1; n > MaxSegments {
		return nil, fmt.Errorf("path has %d segments, more than %d", n, MaxSegments)
	}
	f := Filter(strings.Split(path, "/"))
	if err := f.Check(); err != nil {
		return nil, err
	}
	return f, nil
}

// Check says what is wrong with f, or returns nil.
func (f Filter) Check() error {
	if len(f) == 0 || len(f) > MaxSegments {
		return fmt.Errorf("filter has %d segments, want 1 to %d", len(f), MaxSegments)
	}
	for i, s := range f {
		if s == Wildcard {
			continue
		}
		if err := checkSegment(s); err != nil {
			return fmt.Errorf("segment %d: %w", i+1, err)
		}
	}
	return nil
}

func checkSegment(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > MaxSegmentBytes {
		return fmt.Errorf("%d bytes, longer than %d", len(s), MaxSegmentBytes)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%q: byte %d (0x%02x) cannot appear in a key (printable ASCII only)", s, i+1, c)
		}
		if c == '/' || c == '*' || c == '"' || c == '\\' {
			return fmt.Errorf("%q: byte %d (%q) cannot appear in a key", s, i+1, c)
		}
	}
	return nil
}
