package filetransfer

import (
	"archive/tar"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// MaxTarEntries bounds the entries one directory upload unpacks.
const MaxTarEntries = 1 << 20

// DirectoryWriter takes an uploaded directory: a tar stream, written to a
// temporary file under the root, then unpacked into dest. It is not safe
// for concurrent use.
type DirectoryWriter struct {
	*FileWriter
	dest     string // the directory, relative to the root
	compress string
}

// NewDirectoryWriter starts the upload of a directory into dest (relative,
// under rootDir as NewFileWriter's), as a tar stream compressed with
// compress ("", "gz" or "bz2"). maxsize bounds the stream and, apart,
// the bytes of the files it unpacks into.
func NewDirectoryWriter(rootDir, dest string, maxsize int64, compress string) (*DirectoryWriter, error) {
	switch compress {
	case "", "gz", "bz2":
	default:
		return nil, fmt.Errorf("upload to %q: compress %q is not gz or bz2", dest, compress)
	}
	if err := CheckRelative(dest); err != nil {
		return nil, fmt.Errorf("upload to %q: the destination %w", dest, err)
	}
	// The stream waits beside the directory: ".NAME.RANDOM.tar".
	fw, err := NewFileWriter(rootDir, path.Clean(dest)+".tar", maxsize, nil)
	if err != nil {
		return nil, err
	}
	return &DirectoryWriter{FileWriter: fw, dest: path.Clean(dest), compress: compress}, nil
}

// Unpack ends the stream and unpacks it into the destination directory
// (created when missing; what is there stays unless the tar replaces it).
func (d *DirectoryWriter) Unpack() error {
	if d.f == nil {
		return fmt.Errorf("upload to %q: unpacked twice", d.dest)
	}
	err := d.f.Close()
	d.f = nil
	if err != nil {
		return fmt.Errorf("upload to %q: %w", d.dest, err)
	}
	if err := d.unpack(); err != nil {
		return fmt.Errorf("upload to %q: %w", d.dest, err)
	}
	return nil
}

func (d *DirectoryWriter) unpack() error {
	f, err := d.root.Open(d.tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	switch d.compress {
	case "gz":
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("gz: %w", err)
		}
		defer gz.Close()
		r = gz
	case "bz2":
		r = bzip2.NewReader(f)
	}
	if err := d.root.MkdirAll(d.dest, 0o755); err != nil {
		return err
	}
	dir, err := d.root.OpenRoot(d.dest)
	if err != nil {
		return err
	}
	defer dir.Close()
	u := &unpacker{root: dir, left: d.maxsize}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return u.finish()
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		if n == MaxTarEntries {
			return fmt.Errorf("tar: more than %d entries", MaxTarEntries)
		}
		if err := u.entry(h, tr); err != nil {
			return fmt.Errorf("tar entry %q: %w", h.Name, err)
		}
	}
}

// unpacker writes a tar's entries under root.
type unpacker struct {
	root  *os.Root
	left  int64 // bytes the files may still take; < 0: no bound
	times []entryTime
}

type entryTime struct {
	name  string
	mtime time.Time
}

func (u *unpacker) entry(h *tar.Header, r io.Reader) error {
	name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
	if name == "" {
		return nil // the directory itself ("" or "./")
	}
	if err := CheckRelative(h.Name); err != nil {
		return fmt.Errorf("the name %w", err)
	}
	perm := fs.FileMode(h.Mode).Perm()
	switch h.Typeflag {
	case tar.TypeDir:
		if err := u.root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		if err := u.root.Chmod(name, perm|0o700); err != nil {
			return err
		}
	case tar.TypeReg:
		if err := u.file(name, perm, r); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if strings.HasPrefix(h.Linkname, "/") || CheckRelative(h.Linkname) != nil {
			return fmt.Errorf("a symbolic link to %q, which leaves the directory", h.Linkname)
		}
		if err := u.parent(name); err != nil {
			return err
		}
		_ = u.root.Remove(name)
		if err := u.root.Symlink(h.Linkname, name); err != nil {
			return err
		}
		return nil // no times: they would be the target's
	case tar.TypeLink:
		target := strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
		if err := CheckRelative(h.Linkname); err != nil || target == "" {
			return fmt.Errorf("a hard link to %q, which leaves the directory", h.Linkname)
		}
		if err := u.parent(name); err != nil {
			return err
		}
		_ = u.root.Remove(name)
		if err := u.root.Link(target, name); err != nil {
			return err
		}
		return nil
	default:
		return fmt.Errorf("type %q is not a file, directory or link", h.Typeflag)
	}
	u.times = append(u.times, entryTime{name, h.ModTime})
	return nil
}

func (u *unpacker) parent(name string) error { return u.root.MkdirAll(path.Dir(name), 0o755) }

func (u *unpacker) file(name string, perm fs.FileMode, r io.Reader) error {
	if err := u.parent(name); err != nil {
		return err
	}
	_ = u.root.Remove(name) // a link in its place is replaced, not followed
	f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if u.left >= 0 {
		r = io.LimitReader(r, u.left+1)
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if u.left >= 0 {
		if n > u.left {
			return fmt.Errorf("%w: the files unpack to more than the upload's maxsize", ErrTooLarge)
		}
		u.left -= n
	}
	return nil
}

// finish sets the times of what was unpacked, last (writing a file into a
// directory changes the directory's time).
func (u *unpacker) finish() error {
	for i := len(u.times) - 1; i >= 0; i-- {
		t := u.times[i]
		if err := u.root.Chtimes(t.name, t.mtime, t.mtime); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	return nil
}

// Cancel removes the stream; what was unpacked stays. Call it once the
// upload is over, however it ended.
func (d *DirectoryWriter) Cancel() { d.FileWriter.Cancel() }
