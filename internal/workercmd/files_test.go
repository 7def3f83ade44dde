package workercmd

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeFiles creates files (path → contents) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestMkdir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"file": "x"})
	a, b := filepath.Join(dir, "a", "b", "c"), filepath.Join(dir, "d")
	if err := Mkdir([]string{a, b, a}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a, b} {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", p, err)
		}
	}
	err := Mkdir([]string{filepath.Join(dir, "file", "sub")})
	if err == nil || !strings.Contains(err.Error(), "file") {
		t.Errorf("mkdir under a file: %v", err)
	}
	if err := Mkdir([]string{filepath.Join(dir, "file")}); err == nil {
		t.Errorf("mkdir over a file succeeded")
	}
}

func TestRmdir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	tree := filepath.Join(dir, "tree")
	writeFiles(t, dir, map[string]string{
		"outside/keep.txt":       "keep",
		"outside/sub/keep2.txt":  "keep",
		"tree/a.txt":             "a",
		"tree/sub/deep/b.txt":    "b",
		"tree/ro/locked.txt":     "c",
		"tree/noaccess/hid.txt":  "d",
		"other/x.txt":            "x",
		"linkroot-target/t.txt":  "t",
		"tree/sub/.hidden/h.txt": "h",
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(outside, filepath.Join(tree, "dirlink")))
	must(os.Symlink(filepath.Join(outside, "keep.txt"), filepath.Join(tree, "sub", "filelink")))
	must(os.Symlink("/nonexistent/dangling", filepath.Join(tree, "dangling")))
	// A read-only directory and one without any permission.
	must(os.Chmod(filepath.Join(tree, "ro"), 0o555))
	must(os.Chmod(filepath.Join(tree, "noaccess"), 0))
	linkRoot := filepath.Join(dir, "linkroot")
	must(os.Symlink(filepath.Join(dir, "linkroot-target"), linkRoot))
	t.Cleanup(func() {
		os.Chmod(filepath.Join(tree, "ro"), 0o755)
		os.Chmod(filepath.Join(tree, "noaccess"), 0o755)
	})

	if err := Rmdir([]string{tree, filepath.Join(dir, "missing"), linkRoot}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{tree, linkRoot} {
		if exists(p) {
			t.Errorf("%s still exists", p)
		}
	}
	for _, p := range []string{"outside/keep.txt", "outside/sub/keep2.txt", "other/x.txt", "linkroot-target/t.txt"} {
		if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || len(b) == 0 {
			t.Errorf("%s did not survive: %v", p, err)
		}
	}
}

func TestRmdirReportsEveryFailure(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root may remove anything")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"locked/f": "x", "ok/f": "y"})
	// The parent of "locked" is read-only: its entry cannot be removed.
	parent := filepath.Join(dir, "locked")
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	err := Rmdir([]string{parent, filepath.Join(dir, "ok", "f")})
	if err == nil || !strings.Contains(err.Error(), parent) {
		t.Fatalf("err %v", err)
	}
}

func TestRmfile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"f": "x", "target": "t", "d/inner": "i"})
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "target"), link); err != nil {
		t.Fatal(err)
	}
	if err := Rmfile(filepath.Join(dir, "f")); err != nil || exists(filepath.Join(dir, "f")) {
		t.Errorf("rmfile f: %v", err)
	}
	if err := Rmfile(link); err != nil || exists(link) || !exists(filepath.Join(dir, "target")) {
		t.Errorf("rmfile link: %v", err)
	}
	if err := Rmfile(filepath.Join(dir, "d")); err == nil || !exists(filepath.Join(dir, "d", "inner")) {
		t.Errorf("rmfile of a directory: %v", err)
	}
	if err := Rmfile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rmfile of a missing file: %v", err)
	}
}

func TestStat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"f": "12345"})
	f := filepath.Join(dir, "f")
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(f, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(f, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{f, filepath.Join(dir, "link")} {
		st, err := Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.IsDir() || !st.Mode.IsRegular() || st.Mode.Perm() != 0o640 || st.Size != 5 || !st.ModTime.Equal(mtime) {
			t.Errorf("%s: %+v", p, st)
		}
		tup := st.Tuple()
		if tup[0]&syscall.S_IFMT != syscall.S_IFREG || tup[0]&0o777 != 0o640 ||
			tup[6] != 5 || tup[8] != mtime.Unix() || tup[1] == 0 || tup[3] != 1 ||
			tup[4] != int64(os.Getuid()) {
			t.Errorf("%s: tuple %v", p, tup)
		}
	}
	st, err := Stat(dir)
	if err != nil || !st.IsDir() || st.Tuple()[0]&syscall.S_IFMT != syscall.S_IFDIR {
		t.Errorf("dir: %+v %v", st, err)
	}
	if _, err := Stat(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"b.txt": "", "a.txt": "", "c.log": "", "sub/d.txt": "", ".e.txt": ""})
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"*.txt", []string{".e.txt", "a.txt", "b.txt"}},
		{"*/*.txt", []string{"sub/d.txt"}},
		{"[ab].*", []string{"a.txt", "b.txt"}},
		{"*.none", []string{}},
	} {
		got, err := Glob(filepath.Join(dir, tc.pattern))
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i] = strings.TrimPrefix(got[i], dir+"/")
		}
		if got == nil || !slices.Equal(got, tc.want) {
			t.Errorf("Glob(%q) = %q, want %q", tc.pattern, got, tc.want)
		}
	}
	if _, err := Glob(filepath.Join(dir, "[")); err == nil {
		t.Errorf("bad pattern accepted")
	}
}

func TestListdir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"b": "", "a": "", "C": "", "sub/x": "", ".hidden": ""})
	got, err := Listdir(dir)
	if want := []string{".hidden", "C", "a", "b", "sub"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Listdir = %q %v, want %q", got, err, want)
	}
	if _, err := Listdir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if _, err := Listdir(filepath.Join(dir, "a")); err == nil {
		t.Errorf("listdir of a file succeeded")
	}
}
