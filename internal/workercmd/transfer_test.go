package workercmd

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func randomFile(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	n, err := Listdir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUploadDownloadRoundTrip(t *testing.T) {
	t.Parallel()
	const size, block = 5<<20 + 123, 64 << 10
	src := filepath.Join(t.TempDir(), "src.bin")
	want := randomFile(t, src, size)
	dstDir := filepath.Join(t.TempDir(), "new", "dir")
	dst := filepath.Join(dstDir, "dst.bin")

	d, err := NewDownload(dst, size, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	n, err := UploadFile(src, block, size, func(chunk []byte) error {
		calls++
		if len(chunk) == 0 || len(chunk) > block {
			t.Fatalf("chunk of %d bytes", len(chunk))
		}
		if exists(dst) {
			t.Fatalf("destination visible before Close")
		}
		_, err := d.Write(chunk)
		return err
	})
	if err != nil || n != size {
		t.Fatalf("upload: %d bytes, %v", n, err)
	}
	if wantCalls := (size + block - 1) / block; calls != wantCalls {
		t.Errorf("%d chunks, want %d", calls, wantCalls)
	}
	if d.Written() != size {
		t.Errorf("written %d", d.Written())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("downloaded file differs (%d bytes, %v)", len(got), err)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	if got := names(t, dstDir); !slices.Equal(got, []string{"dst.bin"}) {
		t.Errorf("left in the directory: %q", got)
	}
	if err := d.Close(); err == nil {
		t.Errorf("second Close succeeded")
	}
	if err := d.Abort(); err != nil || !exists(dst) {
		t.Errorf("Abort after Close: %v, file there: %v", err, exists(dst))
	}
}

func TestUploadEdgeCases(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	randomFile(t, big, 1000)
	empty := filepath.Join(dir, "empty")
	randomFile(t, empty, 0)

	t.Run("too large", func(t *testing.T) {
		n, err := UploadFile(big, 64, 999, func([]byte) error {
			t.Fatal("sent a chunk of a file known to be too large")
			return nil
		})
		if n != 0 || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "larger than 999 bytes") {
			t.Errorf("%d %v", n, err)
		}
	})
	t.Run("exactly maxsize", func(t *testing.T) {
		n, err := UploadFile(big, 300, 1000, func([]byte) error { return nil })
		if n != 1000 || err != nil {
			t.Errorf("%d %v", n, err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		n, err := UploadFile(empty, 64, 0, func([]byte) error {
			t.Error("chunk for an empty file")
			return nil
		})
		if n != 0 || err != nil {
			t.Errorf("%d %v", n, err)
		}
	})
	t.Run("send fails", func(t *testing.T) {
		boom := errors.New("connection lost")
		calls := 0
		n, err := UploadFile(big, 100, 0, func([]byte) error {
			calls++
			if calls == 3 {
				return boom
			}
			return nil
		})
		if n != 200 || err != boom {
			t.Errorf("%d %v", n, err)
		}
	})
	for _, tc := range []struct {
		name, path string
		block      int
		want       string
		is         error
	}{
		{"missing", filepath.Join(dir, "missing"), 64, "missing", fs.ErrNotExist},
		{"directory", dir, 64, "is a directory", nil},
		{"bad blocksize", big, 0, "blocksize 0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := UploadFile(tc.path, tc.block, 0, func([]byte) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("%v", err)
			}
		})
	}
}

func TestDownloadTooLargeLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dst := filepath.Join(dir, "dst")
	if err := os.WriteFile(dst, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := NewDownload(dst, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write(make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	n, err := d.Write(make([]byte, 41))
	if n != 0 || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Fatalf("%d %v", n, err)
	}
	if _, err := d.Write([]byte("x")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("write after failure: %v", err)
	}
	if err := d.Close(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("close after failure: %v", err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"dst"}) {
		t.Errorf("left behind: %q", got)
	}
	if b, _ := os.ReadFile(dst); string(b) != "old contents" {
		t.Errorf("destination changed: %q", b)
	}
}

func TestDownloadAbortAndDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dst := filepath.Join(dir, "dst")
	d, err := NewDownload(dst, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := d.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("left behind after Abort: %q", got)
	}
	if err := d.Close(); err == nil {
		t.Errorf("Close after Abort succeeded")
	}
	if err := d.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}

	// No limit, default mode, an empty file replacing an existing one.
	if err := os.WriteFile(dst, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err = NewDownload(dst, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Size() != 0 || fi.Mode().Perm()&0o600 != 0o600 {
		t.Errorf("%v %v", fi, err)
	}

	if _, err := NewDownload(dir+"/", 0, 0); err == nil {
		t.Errorf("download to a directory name accepted")
	}
	// Renaming onto a directory fails and leaves nothing behind.
	sub := filepath.Join(dir, "sub")
	writeFiles(t, dir, map[string]string{"sub/x": "x"})
	d, err = NewDownload(sub, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	d.Write([]byte("y"))
	if err := d.Close(); err == nil {
		t.Errorf("download onto a directory succeeded")
	}
	if got := names(t, dir); !slices.Equal(got, []string{"dst", "sub"}) {
		t.Errorf("left behind: %q", got)
	}
}
