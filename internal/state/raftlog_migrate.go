package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/migrate"
	"go.etcd.io/bbolt"
)

// migrateBoltLog moves the raft log and stable store of a directory written
// before the WAL (dir/raft.db, bbolt) into dir/wal, so that an upgrade keeps
// every acknowledged write. It copies into a temporary directory, renames
// that into place, then removes raft.db; a crash at any point leaves either
// raft.db alone (the copy is redone) or the WAL (raft.db is removed). It
// does nothing when there is no raft.db.
func migrateBoltLog(dir string, logger hclog.Logger) error {
	old := filepath.Join(dir, boltLogFile)
	if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	dst := filepath.Join(dir, LogDir)
	if _, err := os.Stat(dst); err == nil {
		// Renamed into place before a crash: the WAL is the log.
		return os.Remove(old)
	}
	tmp := dst + ".migrating"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("state: migrating %s: %w", old, err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("state: migrating %s: %w", old, err)
	}
	if err := copyLog(old, tmp, logger); err != nil {
		return fmt.Errorf("state: migrating raft log %s to %s: %w", old, dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("state: migrating %s: %w", old, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("state: migrating %s: %w", old, err)
	}
	logger.Info("moved the raft log from bbolt to the WAL", "from", old, "to", dst)
	return os.Remove(old)
}

// copyLog copies the log entries and raft's stable keys of the bbolt store
// at path into a new WAL in dir.
func copyLog(path, dir string, logger hclog.Logger) error {
	src, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{Timeout: 5 * time.Second}})
	if err != nil {
		return err
	}
	defer src.Close()
	meta := &metadb.BoltMetaDB{}
	defer meta.Close() // WAL.Close leaves it open
	dst, err := wal.Open(dir, wal.WithLogger(logger), wal.WithMetaStore(meta))
	if err != nil {
		return err
	}
	defer dst.Close()
	ctx := context.Background()
	if err := migrate.CopyLogs(ctx, dst, src, 4<<20, nil); err != nil {
		return err
	}
	return migrate.CopyStable(ctx, dst, src, nil, nil, nil)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
