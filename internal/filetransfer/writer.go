package filetransfer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"
)

// ErrTooLarge is wrapped by the error of a write past an upload's maxsize.
var ErrTooLarge = errors.New("maximum file size reached")

// openRoot opens dir as the root of uploads, creating it when missing.
func openRoot(dir string) (*os.Root, error) {
	if dir == "" || !path.IsAbs(dir) {
		return nil, fmt.Errorf("uploads directory %q is not an absolute path", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("uploads directory: %w", err)
	}
	return os.OpenRoot(dir)
}

// tempName is a new name for a temporary file beside name (in the same
// directory, so that a rename puts it in place).
func tempName(name, suffix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return path.Join(path.Dir(name), "."+path.Base(name)+"."+hex.EncodeToString(b)+suffix)
}

// FileWriter writes one uploaded file, dest under a root directory. It is
// not safe for concurrent use.
type FileWriter struct {
	root    *os.Root
	dest    string // relative to root
	tmp     string
	f       *os.File
	mode    *fs.FileMode
	maxsize int64 // < 0: no bound
	n       int64
	placed  bool // renamed into place
}

// NewFileWriter starts the upload of dest (relative, checked with
// CheckRelative) under the directory rootDir (absolute; created when
// missing), creating dest's missing parents. mode, when not nil, is the
// file's mode once in place; maxsize < 0 is no bound.
func NewFileWriter(rootDir, dest string, maxsize int64, mode *fs.FileMode) (*FileWriter, error) {
	if err := CheckRelative(dest); err != nil {
		return nil, fmt.Errorf("upload to %q: the destination %w", dest, err)
	}
	root, err := openRoot(rootDir)
	if err != nil {
		return nil, fmt.Errorf("upload to %q: %w", dest, err)
	}
	w := &FileWriter{root: root, dest: path.Clean(dest), mode: mode, maxsize: maxsize}
	if err := root.MkdirAll(path.Dir(w.dest), 0o755); err != nil {
		root.Close()
		return nil, fmt.Errorf("upload to %q: %w", dest, err)
	}
	w.tmp = tempName(w.dest, ".upload")
	if w.f, err = root.OpenFile(w.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666); err != nil {
		root.Close()
		return nil, fmt.Errorf("upload to %q: %w", dest, err)
	}
	return w, nil
}

// Write appends p. Going past maxsize is an error wrapping ErrTooLarge,
// and writes nothing of p.
func (w *FileWriter) Write(p []byte) error {
	if w.f == nil {
		return fmt.Errorf("upload to %q: write after close", w.dest)
	}
	if w.maxsize >= 0 && w.n+int64(len(p)) > w.maxsize {
		return fmt.Errorf("upload to %q: %w: larger than %d bytes", w.dest, ErrTooLarge, w.maxsize)
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		return fmt.Errorf("upload to %q: %w", w.dest, err)
	}
	return nil
}

// Written is how many bytes were written.
func (w *FileWriter) Written() int64 { return w.n }

// Close puts the file in place (replacing what was there) with its mode.
func (w *FileWriter) Close() error {
	if w.f == nil {
		return fmt.Errorf("upload to %q: closed twice", w.dest)
	}
	err := w.f.Close()
	w.f = nil
	if err == nil {
		err = w.root.Rename(w.tmp, w.dest)
	}
	if err == nil {
		w.placed = true
		if w.mode != nil {
			err = w.root.Chmod(w.dest, *w.mode)
		}
	}
	if err != nil {
		return fmt.Errorf("upload to %q: %w", w.dest, err)
	}
	return nil
}

// Utime sets the file's times, in seconds since 1970, once it is in place
// (Buildbot's keepstamp).
func (w *FileWriter) Utime(accessTime, modifiedTime float64) error {
	if !w.placed {
		return fmt.Errorf("upload to %q: times set before the file was closed", w.dest)
	}
	sec := func(f float64) time.Time { return time.Unix(0, int64(f*1e9)) }
	if err := w.root.Chtimes(w.dest, sec(accessTime), sec(modifiedTime)); err != nil {
		return fmt.Errorf("upload to %q: %w", w.dest, err)
	}
	return nil
}

// Cancel gives the upload up: a file not yet in place is removed. It is
// harmless after Close, and releases the root; call it once the upload is
// over, however it ended.
func (w *FileWriter) Cancel() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if !w.placed {
		_ = w.root.Remove(w.tmp)
	}
	w.root.Close()
}
