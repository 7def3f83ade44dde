package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// writeSecret writes dir/name with mode.
func writeSecret(t *testing.T, dir, name, value string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask
		t.Fatal(err)
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "plain", "hunter2", 0o600)
	writeSecret(t, dir, "newline", "hunter2\n", 0o400)
	writeSecret(t, dir, "crlfs", "hunter2\r\n\n", 0o600)
	writeSecret(t, dir, "inner", "line1\nline2\n", 0o600)
	writeSecret(t, dir, "a..b", "dots", 0o600)
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeSecret(t, dir, "big", strings.Repeat("x", 101), 0o600)
	// Kubernetes' secret volume: name -> ..data/name.
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeSecret(t, dir, "..data/k8s", "from-volume", 0o400)
	if err := os.Symlink("..data/k8s", filepath.Join(dir, "k8s")); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	writeSecret(t, outside, "escape", "outside-value", 0o600)
	if err := os.Symlink(filepath.Join(outside, "escape"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}

	d, err := NewDir(DirOptions{Path: dir, MaxFileSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := NewDir(DirOptions{Path: dir, NoStrip: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p        *Dir
		name     string
		want     string
		notFound bool
		err      string
	}{
		{d, "plain", "hunter2", false, ""},
		{d, "newline", "hunter2", false, ""},
		{d, "crlfs", "hunter2", false, ""},
		{d, "inner", "line1\nline2", false, ""},
		{keep, "newline", "hunter2\n", false, ""},
		{d, "k8s", "from-volume", false, ""},
		{d, "missing", "", true, `secret "missing" not found in dir ` + dir},
		{d, "../" + filepath.Base(outside) + "/escape", "", true, `".."`},
		{d, "..data/k8s", "", true, `".."`},
		{d, "sub/k8s", "", true, "path separator"},
		{d, "..", "", true, `".."`},
		{d, ".", "", true, `".."`},
		{d, "a..b", "", true, `".."`},
		{d, "", "", true, "empty name"},
		{d, "a\x00b", "", true, "NUL"},
		{d, `a\b`, "", true, "path separator"},
		{d, "adir", "", false, "adir is not a regular file"},
		{d, "fifo", "", false, "fifo is not a regular file"},
		{d, "big", "", false, "larger than 100 bytes"},
		{d, "escape", "", false, "escape"},
	} {
		checkGet(t, tc.p, tc.name, tc.want, tc.notFound, tc.err, "outside-value", "hunter2", "xxxxxxxxxx")
	}
}

func TestDirSuffix(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "pw.txt", "hunter2", 0o600)
	writeSecret(t, dir, "notes", "open", 0o644) // no suffix: not a secret, not checked
	d, err := NewDir(DirOptions{Path: dir, Suffix: ".txt"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := d.Get(context.Background(), "pw"); v != "hunter2" || err != nil {
		t.Errorf("Get(pw) = %q, %v", v, err)
	}
	if _, err := d.Get(context.Background(), "pw.txt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(pw.txt) = %v, want not found", err)
	}
}

func TestDirPermissions(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "ok", "fine-value", 0o600)
	writeSecret(t, dir, "group", "group-value", 0o640)
	writeSecret(t, dir, "other", "other-value", 0o604)
	writeSecret(t, dir, "gexec", "gexec-value", 0o610)
	writeSecret(t, dir, ".hidden", "hidden", 0o644) // not a secret

	_, err := NewDir(DirOptions{Path: dir})
	if err == nil {
		t.Fatal("NewDir accepted files open to group and others")
	}
	for _, want := range []string{"permissions 0640 on " + filepath.Join(dir, "group") + " are too open", "0604 on " + filepath.Join(dir, "other"), "0610 on " + filepath.Join(dir, "gexec")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewDir error %q lacks %q", err, want)
		}
	}
	noLeak(t, err, "group-value", "other-value", "gexec-value")

	// A file opened up after NewDir is refused at Get.
	d, err := NewDir(DirOptions{Path: dir, AllowOpenPermissions: true})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := d.Get(context.Background(), "group"); v != "group-value" || err != nil {
		t.Errorf("with AllowOpenPermissions: Get(group) = %q, %v", v, err)
	}
	strict := &Dir{o: DirOptions{Path: dir, MaxFileSize: DefaultMaxFileSize}}
	if _, err := strict.Get(context.Background(), "other"); err == nil || !strings.Contains(err.Error(), "too open") || errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a 0604 file = %v, want a too-open error", err)
	}
}

func TestNewDirErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeSecret(t, filepath.Dir(file), "file", "x", 0o600)
	for _, path := range []string{"", filepath.Join(t.TempDir(), "missing"), file} {
		if _, err := NewDir(DirOptions{Path: path}); err == nil {
			t.Errorf("NewDir(%q) succeeded", path)
		}
	}
}

// checkGet checks p.Get(name): it returns want, or (when errText is set)
// an error containing errText that is a not-found or not as notFound says,
// and in any case quoting none of values.
func checkGet(t *testing.T, p Provider, name, want string, notFound bool, errText string, values ...string) {
	t.Helper()
	got, err := p.Get(context.Background(), name)
	switch {
	case errText == "" && (err != nil || got != want):
		t.Errorf("Get(%q) = %q, %v; want %q", name, got, err, want)
	case errText != "" && (err == nil || !strings.Contains(err.Error(), errText)):
		t.Errorf("Get(%q) error = %v, want one containing %q", name, err, errText)
	case errText != "" && errors.Is(err, ErrNotFound) != notFound:
		t.Errorf("Get(%q) error %v: errors.Is(ErrNotFound) = %v, want %v", name, err, !notFound, notFound)
	}
	noLeak(t, err, values...)
}

// noLeak fails when err's text holds any of values.
func noLeak(t *testing.T, err error, values ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, v := range values {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error %q shows the secret value %q", err, v)
		}
	}
}
