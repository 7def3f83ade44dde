package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultMaxFileSize bounds a secret file read by Dir.
const DefaultMaxFileSize = 1 << 20

// DirOptions configures a Dir provider.
type DirOptions struct {
	// Path is the directory holding one file per secret.
	Path string
	// Suffix is appended to a secret's name to get its file name
	// (Buildbot's suffixes, one of them): with ".txt", secret "pw" is
	// read from pw.txt. Empty by default.
	Suffix string
	// NoStrip keeps trailing CR and LF characters, which are removed by
	// default (Buildbot's strip=True removes all of them, not just one).
	NoStrip bool
	// AllowOpenPermissions accepts files that group or others may access.
	// By default, as Buildbot does, any permission bit for group or others
	// (mode & 0o077) refuses the file.
	AllowOpenPermissions bool
	// MaxFileSize bounds a secret file; 0 means DefaultMaxFileSize.
	MaxFileSize int64
}

// Dir reads secrets from files in a directory, one file per secret named
// after it: Buildbot's SecretInAFile. Files are read on each Get (a Chain
// caches them), so a changed file is seen without a restart. Names holding
// a path separator, a NUL or "..", and "." itself, are never looked up.
// Symbolic links are followed only while they stay inside the directory
// (Kubernetes secret volumes link name -> ..data/name).
type Dir struct {
	o DirOptions
}

// NewDir checks that the directory exists and that every secret file in it
// has safe permissions (as Buildbot checks at config time), and returns the
// provider. All problems are reported at once.
func NewDir(o DirOptions) (*Dir, error) {
	if o.Path == "" {
		return nil, errors.New("secrets dir: path is empty")
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	d := &Dir{o: o}
	root, err := os.OpenRoot(o.Path)
	if err != nil {
		return nil, fmt.Errorf("secrets dir %s: %w", o.Path, err)
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("secrets dir %s: %w", o.Path, err)
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, o.Suffix) {
			continue // hidden files and Kubernetes' ..data are not secrets
		}
		fi, err := root.Stat(n)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := d.checkMode(n, fi); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// String names the provider in errors.
func (d *Dir) String() string { return "dir " + d.o.Path }

// Get reads the file of secret name.
func (d *Dir) Get(_ context.Context, name string) (string, error) {
	if reason := badFileName(name); reason != "" {
		return "", &NotFoundError{Name: name, Where: d.String(), Reason: reason}
	}
	file := name + d.o.Suffix
	root, err := os.OpenRoot(d.o.Path)
	if err != nil {
		return "", fmt.Errorf("secrets %s: %w", d, err)
	}
	defer root.Close()
	fi, err := root.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", &NotFoundError{Name: name, Where: d.String()}
	}
	if err != nil {
		return "", fmt.Errorf("secret %q in %s: %w", name, d, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("secret %q in %s: %s is not a regular file", name, d, file)
	}
	if err := d.checkMode(file, fi); err != nil {
		return "", err
	}
	f, err := root.Open(file)
	if err != nil {
		return "", fmt.Errorf("secret %q in %s: %w", name, d, err)
	}
	defer f.Close()
	// The file could have been swapped since Stat: check what was opened.
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("secret %q in %s: %s is not a regular file", name, d, file)
	}
	if err := d.checkMode(file, fi); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(f, d.o.MaxFileSize+1))
	if err != nil {
		return "", fmt.Errorf("secret %q in %s: %w", name, d, err)
	}
	if int64(len(b)) > d.o.MaxFileSize {
		return "", fmt.Errorf("secret %q in %s: %s is larger than %d bytes", name, d, file, d.o.MaxFileSize)
	}
	v := string(b)
	if !d.o.NoStrip {
		v = strings.TrimRight(v, "\r\n")
	}
	return v, nil
}

func (d *Dir) checkMode(file string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && !d.o.AllowOpenPermissions {
		return fmt.Errorf("secrets %s: permissions %#o on %s are too open: a secret file must not be accessible by group or others (chmod 600 it, or allow open permissions)",
			d, perm, filepath.Join(d.o.Path, file))
	}
	return nil
}

// badFileName says why name cannot be a file in the directory, or "".
func badFileName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case name == ".", strings.Contains(name, ".."):
		return `name contains ".."`
	case strings.ContainsAny(name, `/\`):
		return "name contains a path separator"
	case strings.ContainsRune(name, 0):
		return "name contains a NUL byte"
	}
	return ""
}
