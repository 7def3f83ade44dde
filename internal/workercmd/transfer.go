package workercmd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// This file holds the transfer of one file between worker and master:
// UploadFile (worker → master, Buildbot's uploadFile) and Download (master
// → worker, Buildbot's downloadFile). Both hold at most one chunk in
// memory.

// ErrTooLarge is wrapped by the error of a transfer that would exceed its
// maxsize.
var ErrTooLarge = errors.New("maximum file size reached")

// UploadFile reads the regular file at path and calls send with its
// contents in consecutive chunks of blocksize bytes, the last one shorter
// (an empty file makes no call). chunk is only valid during the call: its
// memory is reused. It returns the number of bytes handed to send.
//
// maxsize > 0 limits the file's size: a larger file is an error wrapping
// ErrTooLarge, found before anything is sent when the file is already too
// large, else (it grew) when the limit is reached, without sending the
// bytes past it. An error from send stops the upload and is returned as
// it is.
func UploadFile(path string, blocksize int, maxsize int64, send func(chunk []byte) error) (int64, error) {
	if blocksize <= 0 {
		return 0, fmt.Errorf("upload %s: blocksize %d is not positive", path, blocksize)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	if fi.IsDir() {
		return 0, fmt.Errorf("upload %s: is a directory", path)
	}
	tooLarge := func() error {
		return fmt.Errorf("upload %s: %w: the file is larger than %d bytes", path, ErrTooLarge, maxsize)
	}
	if maxsize > 0 && fi.Size() > maxsize {
		return 0, tooLarge()
	}
	buf := make([]byte, blocksize)
	var sent int64
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			if maxsize > 0 && sent+int64(n) > maxsize {
				return sent, tooLarge()
			}
			if serr := send(buf[:n]); serr != nil {
				return sent, serr
			}
			sent += int64(n)
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return sent, nil
		default:
			return sent, fmt.Errorf("upload: %w", err)
		}
	}
}

// Download writes one file that arrives in chunks from the master. It
// writes into a new temporary file next to path and renames that onto
// path on Close, so path is either untouched or complete. It is not safe
// for concurrent use.
type Download struct {
	path    string
	tmp     string
	f       *os.File
	maxsize int64
	mode    fs.FileMode
	n       int64
	err     error // sticky: after a failure, or after Close / Abort
}

// errFinished is the sticky error of a Download after Close or Abort.
var errFinished = errors.New("download already closed or aborted")

// NewDownload starts a download to path, creating its missing parent
// directories (as Buildbot's worker does). maxsize > 0 limits the file's
// size. mode, when not 0, is the final file's permission bits; 0 means
// 0666 less the umask.
func NewDownload(path string, maxsize int64, mode fs.FileMode) (*Download, error) {
	dir, base := filepath.Split(path)
	if base == "" {
		return nil, fmt.Errorf("download %q: no file name", path)
	}
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	for range 100 {
		tmp := filepath.Join(dir, "."+base+".download-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("download: %w", err)
		}
		return &Download{path: path, tmp: tmp, f: f, maxsize: maxsize, mode: mode}, nil
	}
	return nil, fmt.Errorf("download %s: cannot create a temporary file", path)
}

// Write appends p to the file. Going past maxsize is an error wrapping
// ErrTooLarge; it aborts the download (the temporary file is removed,
// nothing of p is written). After any error, Close or Abort, Write fails.
func (d *Download) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.maxsize > 0 && d.n+int64(len(p)) > d.maxsize {
		err := fmt.Errorf("download %s: %w: the file is larger than %d bytes", d.path, ErrTooLarge, d.maxsize)
		d.abort(err)
		return 0, err
	}
	n, err := d.f.Write(p)
	d.n += int64(n)
	if err != nil {
		err = fmt.Errorf("download: %w", err)
		d.abort(err)
		return n, err
	}
	return n, nil
}

// Written is the number of bytes written so far.
func (d *Download) Written() int64 { return d.n }

// Close finishes the download: it syncs the file, sets its mode and
// renames it onto path. On failure nothing is left behind. After a failed
// Write it returns that Write's error; a second Close fails.
func (d *Download) Close() error {
	if d.err != nil {
		return d.err
	}
	err := d.f.Sync()
	if err == nil && d.mode != 0 {
		err = d.f.Chmod(d.mode)
	}
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(d.tmp, d.path)
	}
	if err != nil {
		err = fmt.Errorf("download: %w", err)
		os.Remove(d.tmp)
		d.err = err
		return err
	}
	d.err = errFinished
	return nil
}

// Abort gives up the download and removes the temporary file; path is
// untouched. It is a no-op after Close, Abort or a failed Write.
func (d *Download) Abort() error {
	if d.err != nil {
		return nil
	}
	return d.abort(errFinished)
}

// abort closes and removes the temporary file and makes err sticky.
func (d *Download) abort(err error) error {
	d.err = err
	d.f.Close()
	if rerr := os.Remove(d.tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return fmt.Errorf("download: %w", rerr)
	}
	return nil
}
