package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// raftLog is raft's log and stable store in dir/wal: hashicorp/raft-wal,
// which appends each batch of entries to a segment file with one fsync.
// Close also closes the WAL's meta database, which WAL.Close leaves open
// (and locked), and releases the directory lock.
type raftLog struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
	lock *os.File
}

// openRaftLog locks dir for this process, moves a bbolt log written by
// earlier releases into the WAL, and opens the WAL. A directory another
// process has open is refused at once, naming the directory.
func openRaftLog(dir string, logger hclog.Logger) (*raftLog, error) {
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
	return &raftLog{WAL: w, meta: meta, lock: lock}, nil
}

// Close closes the WAL, its meta database and the directory lock.
func (l *raftLog) Close() error {
	err := l.WAL.Close()
	return errors.Join(err, l.meta.Close(), l.lock.Close())
}
