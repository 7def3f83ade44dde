package testkit

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the repository's one -update flag. It is registered in every
// test binary that imports testkit.
var update = flag.Bool("update", false, "rewrite the golden files (and the other generated testdata) instead of comparing with them")

// Update reports whether the test binary runs with -update, for tests
// that regenerate testdata other than through Golden (a fuzz seed corpus).
func Update() bool { return *update }

// Golden compares got with the file at path (by convention under
// testdata/, named *.golden). With -update it first writes got there,
// creating the directory. A difference fails the test (t.Errorf) showing
// the first lines that differ; a missing file fails it at once (t.Fatalf).
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update accepts it):\n%s", path, firstDifference(string(got), string(want)))
	}
}

// firstDifference renders the first line where got and want differ, with
// a few lines of context before and after it.
func firstDifference(got, want string) string {
	const context = 3
	g, w := strings.SplitAfter(got, "\n"), strings.SplitAfter(want, "\n")
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	from := max(0, i-context)
	var b strings.Builder
	for _, side := range []struct {
		name  string
		lines []string
	}{{"got", g}, {"want", w}} {
		fmt.Fprintf(&b, "--- %s, from line %d:\n", side.name, from+1)
		for _, l := range side.lines[from:min(len(side.lines), i+context+1)] {
			fmt.Fprintf(&b, "%q\n", l)
		}
	}
	return b.String()
}
