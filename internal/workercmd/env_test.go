package workercmd

import (
	"regexp"
	"strings"
	"testing"
)

var testVars = map[string]string{"A": "1", "HOME": "/home/w", "X_Y": "${A}", "": "empty-name"}

func lookupTest(k string) string { return testVars[k] }

func TestExpandEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"${A}", "1"},
		{"x${A}y${A}z", "x1y1z"},
		{"${HOME}/bin:${PATH}", "/home/w/bin:"},
		{"${X_Y}", "${A}"}, // no second round
		{"${}", "empty-name"},
		{"$A", "$A"},
		{"${A", "${A"},
		{"${a-b}", "${a-b}"},
		{"${${A}}", "${1}"},
		{"$${A}", "$1"},
		{"${A}}", "1}"},
		{"${ A}", "${ A}"},
		{"${é}", "${é}"},
	} {
		if got := expandEnv(tc.in, lookupTest); got != tc.want {
			t.Errorf("expandEnv(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// buildbotRE is the substitution Buildbot's worker applies to env values.
var buildbotRE = regexp.MustCompile(`\$\{([0-9a-zA-Z_]*)\}`)

func buildbotExpand(s string) string {
	return buildbotRE.ReplaceAllStringFunc(s, func(m string) string {
		return lookupTest(m[2 : len(m)-1])
	})
}

// FuzzExpandEnv checks expandEnv against Buildbot's regular expression.
func FuzzExpandEnv(f *testing.F) {
	for _, s := range []string{"", "${A}", "a${HOME}b", "${${A}}", "$${", "${A", "${X_Y}}", "${}", "${a-b}${A}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := expandEnv(s, lookupTest), buildbotExpand(s); got != want {
			t.Fatalf("expandEnv(%q) = %q, regexp gives %q", s, got, want)
		}
	})
}

func TestBuildEnv(t *testing.T) {
	t.Parallel()
	got, err := buildEnv(
		[]string{"B=2", "A=1", "A=one", "NOEQUALS", "=x", "C=3"},
		map[string]string{"C": "${A}${B}", "D": "${C}"},
		[]string{"B", "C"},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=one", "C=one2", "D=3"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// Only what reaches the command is checked for NUL: an entry of the
// worker's environment that is unset or overridden does not matter.
func TestBuildEnvNUL(t *testing.T) {
	t.Parallel()
	if _, err := buildEnv([]string{"A=x\x00y", "B=\x00"}, map[string]string{"B": "b"}, []string{"A"}); err != nil {
		t.Errorf("NUL in entries that are dropped: %v", err)
	}
	for _, base := range [][]string{{"A=x\x00y"}, {"A\x00B=y"}} {
		if _, err := buildEnv(base, nil, nil); err == nil || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("base %q: error %v, want one saying NUL", base, err)
		}
	}
	if _, err := buildEnv([]string{"B=\x00"}, map[string]string{"A": "${B}"}, []string{"B"}); err == nil {
		t.Errorf("a NUL expanded into a value was accepted")
	}
}
