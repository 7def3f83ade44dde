package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Files in a Store's directory.
const (
	// LockFile is held (flock) by the process that has the directory open.
	LockFile = "LOCK"
	// LogDir is the raft log and stable store: hashicorp/raft-wal segment
	// files, one fsync per batch of entries.
	LogDir = "wal"
	// boltLogFile is where releases before the WAL kept the log (bbolt);
	// Open moves such a log into LogDir once.
	boltLogFile = "raft.db"
	// SnapshotDir holds raft's file snapshots (snapshots/<id>/{meta.json,state.bin}).
	SnapshotDir = "snapshots"
)

// lockDir takes dir/LockFile exclusively without waiting: two masters on one
// state directory would corrupt it.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state: %s is in use by another process (%s is locked)", dir, path)
		}
		return nil, fmt.Errorf("state: locking %s: %w", path, err)
	}
	return f, nil
}
