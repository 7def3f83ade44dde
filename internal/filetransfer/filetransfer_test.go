package filetransfer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func upload(t *testing.T, root, dest string, data []byte, maxsize int64, mode *fs.FileMode) error {
	t.Helper()
	w, err := NewFileWriter(root, dest, maxsize, mode)
	if err != nil {
		return err
	}
	defer w.Cancel()
	for len(data) > 0 {
		n := min(len(data), 3)
		if err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return w.Close()
}

func TestFileWriter(t *testing.T) {
	root := filepath.Join(t.TempDir(), "uploads") // created when missing
	mode := fs.FileMode(0o640)
	if err := upload(t, root, "a/b/out.bin", []byte("hello world"), -1, &mode); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "a/b/out.bin"))
	if err != nil || string(got) != "hello world" {
		t.Fatalf("%q %v", got, err)
	}
	if st, _ := os.Stat(filepath.Join(root, "a/b/out.bin")); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode())
	}
	// Replaced whole, times kept on request.
	w, err := NewFileWriter(root, "a/b/out.bin", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("v2")); err != nil {
		t.Fatal(err)
	}
	if err := w.Utime(1, 2); err == nil {
		t.Fatal("Utime before Close")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	stamp := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := w.Utime(float64(stamp.Unix()), float64(stamp.Unix())); err != nil {
		t.Fatal(err)
	}
	w.Cancel() // harmless after Close
	if got, _ := os.ReadFile(filepath.Join(root, "a/b/out.bin")); string(got) != "v2" {
		t.Fatalf("after the second upload: %q", got)
	}
	if st, _ := os.Stat(filepath.Join(root, "a/b/out.bin")); !st.ModTime().Equal(stamp) {
		t.Fatalf("mtime %v", st.ModTime())
	}
	// Past maxsize: an error, and nothing in place nor left behind.
	err = upload(t, root, "big.bin", []byte("0123456789"), 5, nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over maxsize: %v", err)
	}
	if entries := names(t, root); strings.Join(entries, ",") != "a" {
		t.Fatalf("the root holds %v", entries)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestUploadsNeverLeaveTheRoot: a destination that is absolute, holds
// "..", or passes through a symbolic link out of the root is refused, and
// nothing is written outside.
func TestUploadsNeverLeaveTheRoot(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "uploads"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside/f", filepath.Join(root, "filelink")); err != nil {
		t.Fatal(err)
	}
	for _, dest := range []string{"../outside/f", "/etc/passwd", "a/../../outside/f", "..", "", "link/f", "link/sub/f", `..\outside`} {
		if err := upload(t, root, dest, []byte("x"), -1, nil); err == nil {
			t.Errorf("upload to %q: accepted", dest)
		}
		if err := unpack(t, root, dest, tarball(t, false, entry{name: "f", body: "x", typ: tar.TypeReg}), -1, ""); err == nil {
			t.Errorf("directory upload to %q: accepted", dest)
		}
	}
	// A link as the destination itself is replaced, not followed.
	if err := upload(t, root, "filelink", []byte("x"), -1, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(filepath.Join(root, "filelink")); err != nil || !st.Mode().IsRegular() {
		t.Fatalf("filelink: %v %v", st, err)
	}
	if left := names(t, outside); len(left) != 0 {
		t.Fatalf("written outside the root: %v", left)
	}
	if err := CheckRelative("a/../../x"); err == nil || err.Error() != `leaves its directory ("..")` {
		t.Fatalf("CheckRelative: %v", err)
	}
}

type entry struct {
	name, body, link string
	typ              byte
}

func tarball(t *testing.T, gz bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var zw *gzip.Writer
	tw := tar.NewWriter(&buf)
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.link, ModTime: time.Unix(1e9, 0)}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func unpack(t *testing.T, root, dest string, data []byte, maxsize int64, compress string) error {
	t.Helper()
	d, err := NewDirectoryWriter(root, dest, maxsize, compress)
	if err != nil {
		return err
	}
	defer d.Cancel()
	if err := d.Write(data); err != nil {
		return err
	}
	return d.Unpack()
}

func TestDirectoryWriter(t *testing.T) {
	root := t.TempDir()
	data := tarball(t, true,
		entry{name: "./", typ: tar.TypeDir},
		entry{name: "sub/", typ: tar.TypeDir},
		entry{name: "sub/a.txt", body: "alpha\n", typ: tar.TypeReg},
		entry{name: "lib.so", link: "sub/a.txt", typ: tar.TypeSymlink},
		entry{name: "hard", link: "sub/a.txt", typ: tar.TypeLink},
	)
	if err := unpack(t, root, "docs/html", data, -1, "gz"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sub/a.txt", "lib.so", "hard"} {
		if b, err := os.ReadFile(filepath.Join(root, "docs/html", f)); string(b) != "alpha\n" {
			t.Errorf("%s: %q %v", f, b, err)
		}
	}
	if l, _ := os.Readlink(filepath.Join(root, "docs/html/lib.so")); l != "sub/a.txt" {
		t.Errorf("lib.so links to %q", l)
	}
	if st, _ := os.Stat(filepath.Join(root, "docs/html/sub/a.txt")); !st.ModTime().Equal(time.Unix(1e9, 0)) {
		t.Errorf("mtime %v", st.ModTime())
	}
	// The stream does not stay.
	if left := names(t, filepath.Join(root, "docs")); strings.Join(left, ",") != "html" {
		t.Errorf("docs holds %v", left)
	}
}

// TestDirectoryUploadsNeverLeaveTheRoot: tar entries that would write
// outside the destination (absolute, "..", through a link, a link that
// leaves it) are refused, and nothing is written outside.
func TestDirectoryUploadsNeverLeaveTheRoot(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "uploads"), filepath.Join(base, "outside")
	if err := os.MkdirAll(filepath.Join(root, "dest"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "dest", "out")); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string][]entry{
		"dot-dot":             {{name: "../../outside/f", body: "x", typ: tar.TypeReg}},
		"absolute":            {{name: "/" + filepath.Join(outside, "f"), body: "x", typ: tar.TypeReg}},
		"through a link":      {{name: "out/f", body: "x", typ: tar.TypeReg}},
		"absolute symlink":    {{name: "l", link: outside, typ: tar.TypeSymlink}, {name: "l/f", body: "x", typ: tar.TypeReg}},
		"escaping symlink":    {{name: "sub/l", link: "../../../outside", typ: tar.TypeSymlink}},
		"symlink up, then in": {{name: "sub/", typ: tar.TypeDir}, {name: "sub/l", link: "..", typ: tar.TypeSymlink}, {name: "sub/l2", link: "l/../..", typ: tar.TypeSymlink}},
		"hard link out":       {{name: "h", link: "../../outside/f", typ: tar.TypeLink}},
		"device":              {{name: "dev", typ: tar.TypeChar}},
	} {
		if err := unpack(t, root, "dest", tarball(t, false, e...), -1, ""); err == nil {
			t.Errorf("%s: unpacked", name)
		}
	}
	if left := names(t, outside); len(left) != 0 {
		t.Fatalf("written outside the root: %v", left)
	}
}

// TestDirectoryUploadBounds: a stream past maxsize, and files that unpack
// past it (a compression bomb), are refused.
func TestDirectoryUploadBounds(t *testing.T) {
	root := t.TempDir()
	big := strings.Repeat("z", 1<<20)
	data := tarball(t, true, entry{name: "big", body: big, typ: tar.TypeReg})
	if len(data) > 10<<10 {
		t.Fatalf("the bomb is %d bytes", len(data))
	}
	if err := unpack(t, root, "bomb", data, 10<<10, "gz"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a bomb: %v", err)
	}
	plain := tarball(t, false, entry{name: "f", body: "0123456789", typ: tar.TypeReg})
	if err := unpack(t, root, "plain", plain, 100, ""); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a stream over maxsize: %v", err)
	}
	if _, err := NewDirectoryWriter(root, "x", -1, "zip"); err == nil {
		t.Fatal("compress zip accepted")
	}
}

func TestReader(t *testing.T) {
	r := Bytes([]byte("abcdefg"))
	var got []string
	for {
		b, err := r.Read(3)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			break
		}
		got = append(got, string(b))
	}
	if strings.Join(got, "|") != "abc|def|g" {
		t.Fatalf("%v", got)
	}
	r.Close()
	if _, err := OpenFile(t.TempDir()); err == nil {
		t.Fatal("opened a directory")
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
