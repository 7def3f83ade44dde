package logchunk

import (
	"io"
	"os"
)

// File is what a Writer does to its log's file.
type File interface {
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Close() error
}

// FS is how a Store's Writers create files and directories: the operating
// system's (OS), or a wrapper that injects faults in tests.
type FS interface {
	// Create creates a new file for writing; it fails if name exists.
	Create(name string) (File, error)
	// MkdirAll is os.MkdirAll with mode 0o755.
	MkdirAll(dir string) error
	// SyncDir makes the entries of dir durable (fsync of the directory).
	SyncDir(dir string) error
}

// OS is the operating system's file system.
type OS struct{}

// Create implements FS.
func (OS) Create(name string) (File, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// MkdirAll implements FS.
func (OS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

// SyncDir implements FS.
func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
