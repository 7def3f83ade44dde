package mq

import (
	"strings"
	"testing"
)

func TestFilterMatch(t *testing.T) {
	for _, tc := range []struct {
		filter, key string
		want        bool
	}{
		{"builds/*/*", "builds/12/finished", true},
		{"builds/*/*", "builds/12/new", true},
		{"builds/12/*", "builds/12/finished", true},
		{"builds/12/*", "builds/13/finished", false},
		{"builds/*/finished", "builds/12/finished", true},
		{"builds/*/finished", "builds/12/new", false},
		{"*/*/*", "steps/3/started", true},
		{"*/*/*", "builds/12/steps/3/started", false}, // length must agree
		{"builds/*", "builds/12/finished", false},
		{"builds/*/*/*", "builds/12/finished", false},
		{"builds/*/steps/*/*", "builds/12/steps/3/started", true},
		{"builds/*/steps/*/*", "steps/3/started", false},
		{"*", "builds", true},
		{"builds/12/finished", "builds/12/finished", true},
		{"builds/1/finished", "builds/12/finished", false}, // no prefix match
		{"builders/*/builds/*/*", "builders/2/builds/7/finished", true},
		{"buildsets/*/builders/*/buildrequests/*/*", "buildsets/1/builders/2/buildrequests/3/claimed", true},
	} {
		f, err := ParseFilter(tc.filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
		}
		k := Key(strings.Split(tc.key, "/"))
		if got := f.Match(k); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.filter, tc.key, got, tc.want)
		}
		// The bus (the trie) agrees with Match.
		b := New()
		s := b.Subscribe(t.Context(), 1)
		if _, err := s.Add(f); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(k, "", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if got := len(s.Take(nil)) == 1; got != tc.want {
			t.Errorf("bus: %q got %q = %v, want %v", tc.filter, tc.key, got, tc.want)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	for _, tc := range []struct{ path, err string }{
		{"", "empty path"},
		{"builds//finished", "segment 2: empty"},
		{"builds/", "segment 2: empty"},
		{"/builds", "segment 1: empty"},
		{"a/b/c/d/e/f/g/h/i", "path has 9 segments, more than 8"},
		{"builds/1*/x", `segment 2: "1*": byte 2 ('*') cannot appear in a key`},
		{"builds/a b", `segment 2: "a b": byte 2 (0x20) cannot appear in a key (printable ASCII only)`},
		{`builds/"x`, `segment 2: "\"x": byte 1 ('"') cannot appear in a key`},
		{"builds/é", `segment 2: "é": byte 1 (0xc3) cannot appear in a key (printable ASCII only)`},
		{"builds/" + strings.Repeat("x", 129), "segment 2: 129 bytes, longer than 128"},
		{strings.Repeat("x/", 600), "path of 1200 bytes, longer than 1032"},
	} {
		_, err := ParseFilter(tc.path)
		if err == nil || err.Error() != tc.err {
			t.Errorf("ParseFilter(%.40q) = %v, want %q", tc.path, err, tc.err)
		}
	}
}

func TestKeyCheck(t *testing.T) {
	for _, tc := range []struct {
		key Key
		err string
	}{
		{Key{"builds", "1", "new"}, ""},
		{Key{}, `key "" has 0 segments, want 1 to 8`},
		{Key{"builds", "*", "new"}, `key "builds/*/new": segment 2: "*": byte 1 ('*') cannot appear in a key`},
		{Key{"builds", "a/b", "new"}, `key "builds/a/b/new": segment 2: "a/b": byte 2 ('/') cannot appear in a key`},
		{Key{"builds", "", "new"}, `key "builds//new": segment 2: empty`},
	} {
		err := tc.key.Check()
		if got := errString(err); got != tc.err {
			t.Errorf("%q.Check() = %q, want %q", tc.key, got, tc.err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
