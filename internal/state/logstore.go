package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// LockFile is held (flock) by the process that has the directory open.
const LockFile = "LOCK"

// logStore is raft's log and stable store in dir/wal: hashicorp/raft-wal,
// which appends each batch of entries to a segment file with one fsync.
// Close also closes the WAL's meta database, which WAL.Close leaves open
// (and locked), and releases the directory lock.
type logStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
	lock *os.File
}

// openLogStore locks dir for this process, moves a bbolt log written by
// earlier releases into the WAL, and opens the WAL. A directory another
// process has open is refused at once, naming the directory.
func openLogStore(dir string, logger hclog.Logger) (*logStore, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	if err := migrateBoltLog(dir, logger); err != nil {
		lock.Close()
		return nil, err
	}
	path := filepath.Join(dir, LogDir)
	if err := os.MkdirAll(path, 0o700); err != nil {
		lock.Close()
		return nil, fmt.Errorf("state: %w", err)
	}
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(path, wal.WithLogger(logger), wal.WithMetaStore(meta))
	if err != nil {
		meta.Close()
		lock.Close()
		return nil, fmt.Errorf("state: opening raft log %s: %w", path, err)
	}
	return &logStore{WAL: w, meta: meta, lock: lock}, nil
}

func (l *logStore) Close() error {
	err := l.WAL.Close()
	return errors.Join(err, l.meta.Close(), l.lock.Close())
}

// lockDir takes dir/LOCK exclusively without waiting: two masters on one
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
