package workercmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// This file holds Buildbot's file-system commands: mkdir, rmdir, rmfile,
// stat, glob, listdir. Paths are used as given (the master sends absolute
// ones); every error names the path it is about.

// Mkdir creates each of paths with any missing parents, like mkdir -p. A
// path that already is a directory is fine; one that exists as anything
// else is an error. It stops at the first error.
func Mkdir(paths []string) error {
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o777); err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
	}
	return nil
}

// Rmdir removes each of paths and everything below it, like rm -rf: a
// missing path is fine. A symbolic link is removed as a link; its target
// is never touched, wherever it points. Directories without write or
// search permission inside the tree are made accessible to be removed (a
// read-only Go module cache, for instance). It goes on after an error and
// returns all of them.
func Rmdir(paths []string) error {
	var errs []error
	for _, p := range paths {
		if err := removeTree(p); err != nil {
			errs = append(errs, fmt.Errorf("rmdir: %w", err))
		}
	}
	return errors.Join(errs...)
}

func removeTree(p string) error {
	err := os.RemoveAll(p) // never follows symlinks (unlinkat/openat based)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	// Make every real directory in the tree u+rwx, then try again. WalkDir
	// does not follow symlinks, and each directory is opened with
	// O_NOFOLLOW before its mode is changed through the descriptor.
	_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		f, oerr := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
		if oerr != nil {
			// No read permission: a directory cannot be opened O_RDONLY,
			// but O_PATH cannot fchmod; fall back to the path, checked
			// just before.
			if fi, lerr := os.Lstat(path); lerr == nil && fi.IsDir() {
				_ = os.Chmod(path, fi.Mode().Perm()|0o700)
			}
			return nil
		}
		if fi, serr := f.Stat(); serr == nil {
			_ = f.Chmod(fi.Mode().Perm() | 0o700)
		}
		f.Close()
		return nil
	})
	return os.RemoveAll(p)
}

// Rmfile removes one file (or symbolic link, not its target); a directory
// is an error, and so is a missing file.
func Rmfile(path string) error {
	if err := syscall.Unlink(path); err != nil {
		return &fs.PathError{Op: "rmfile", Path: path, Err: err}
	}
	return nil
}

// FileStat is what Stat reports about a file: os.Stat's view plus the raw
// fields of stat(2) that Buildbot's stat command returns.
type FileStat struct {
	Mode       fs.FileMode // Go's file mode; Mode.IsDir(), Mode.IsRegular()
	RawMode    uint32      // st_mode as the kernel reports it (S_IFDIR etc.)
	Size       int64
	ModTime    time.Time
	AccessTime time.Time
	ChangeTime time.Time
	Ino, Dev   uint64
	Nlink      uint64
	UID, GID   uint32
}

// IsDir reports whether the file is a directory.
func (s FileStat) IsDir() bool { return s.Mode.IsDir() }

// Tuple is Buildbot's stat reply, Python's os.stat() as a tuple: (mode,
// ino, dev, nlink, uid, gid, size, atime, mtime, ctime), times in whole
// seconds since the epoch.
func (s FileStat) Tuple() [10]int64 {
	return [10]int64{
		int64(s.RawMode), int64(s.Ino), int64(s.Dev), int64(s.Nlink),
		int64(s.UID), int64(s.GID), s.Size,
		s.AccessTime.Unix(), s.ModTime.Unix(), s.ChangeTime.Unix(),
	}
}

// Stat reports on path, following symbolic links (as os.stat does). A
// missing file is an error that satisfies errors.Is(err, fs.ErrNotExist).
func Stat(path string) (FileStat, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileStat{}, err
	}
	st := FileStat{Mode: fi.Mode(), Size: fi.Size(), ModTime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.RawMode = sys.Mode
		st.Ino = sys.Ino
		st.Dev = sys.Dev
		st.Nlink = uint64(sys.Nlink)
		st.UID, st.GID = sys.Uid, sys.Gid
		st.AccessTime = time.Unix(sys.Atim.Unix())
		st.ChangeTime = time.Unix(sys.Ctim.Unix())
	}
	return st, nil
}

// Glob returns the names matching pattern (filepath.Match syntax, no
// "**"), sorted; none is an empty list, not an error. Unlike Python's glob
// a '*' also matches names starting with '.'. A malformed pattern is an
// error.
func Glob(pattern string) ([]string, error) {
	m, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("glob %q: %w", pattern, err)
	}
	slices.Sort(m)
	if m == nil {
		m = []string{}
	}
	return m, nil
}

// Listdir returns the names in directory path (not "." or ".."), sorted.
func Listdir(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}
