package filetransfer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Reader gives the bytes of a download, in blocks. It is not safe for
// concurrent use.
type Reader struct {
	name string
	r    io.Reader
	c    io.Closer // nil for bytes
}

// OpenFile starts a download of the file at path (absolute) on the master.
func OpenFile(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("download: %s is a directory", path)
	}
	return &Reader{name: path, r: f, c: f}, nil
}

// Bytes starts a download of b (Buildbot's StringDownload).
func Bytes(b []byte) *Reader {
	return &Reader{name: "a string", r: bytes.NewReader(b)}
}

// Read returns the next at most n bytes; none at the end.
func (r *Reader) Read(n int) ([]byte, error) {
	if r.r == nil {
		return nil, nil
	}
	buf := make([]byte, n)
	got, err := io.ReadFull(r.r, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("download of %s: %w", r.name, err)
	}
	return buf[:got], nil
}

// Close ends the download; it may be called more than once.
func (r *Reader) Close() error {
	r.r = nil
	if r.c != nil {
		c := r.c
		r.c = nil
		return c.Close()
	}
	return nil
}
