package state

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
)

// raftLog is raft's log and stable store in dir/wal: hashicorp/raft-wal,
// which appends each batch of entries to a segment file with one fsync.
// Close also closes the WAL's meta database, which WAL.Close leaves open
// (and locked). guardedLog owns it, and opens it again after a failed write.
type raftLog struct {
	*wal.WAL
	meta types.MetaStore
}

// walOptions are how a raftLog is opened.
type walOptions struct {
	logger      hclog.Logger
	segmentSize int
	// Tests inject faults with these; nil is the real thing.
	vfs  types.VFS              // the segment files' file system
	meta func() types.MetaStore // a new meta database (raft-wal's bbolt)
}

func (o walOptions) newMeta() types.MetaStore {
	if o.meta != nil {
		return o.meta()
	}
	return &metadb.BoltMetaDB{}
}

// openWAL opens the WAL in path, first finishing a rotation that a failed
// write or a crash left half done.
func openWAL(path string, o walOptions) (*raftLog, error) {
	vfs := o.vfs
	if vfs == nil {
		vfs = fs.New()
	}
	if err := finishRotation(path, vfs, o.newMeta(), o.segmentSize); err != nil {
		return nil, fmt.Errorf("state: opening raft log %s: %w", path, err)
	}
	meta := o.newMeta()
	w, err := wal.Open(path, wal.WithLogger(o.logger), wal.WithMetaStore(meta), wal.WithSegmentSize(o.segmentSize),
		wal.WithSegmentFiler(segment.NewFiler(path, vfs)))
	if err != nil {
		meta.Close()
		return nil, fmt.Errorf("state: opening raft log %s: %w", path, err)
	}
	return &raftLog{WAL: w, meta: meta}, nil
}

// Close closes the WAL and its meta database.
func (l *raftLog) Close() error {
	err := l.WAL.Close()
	return errors.Join(err, l.meta.Close())
}

// finishRotation finishes a rotation of the log in path that sealed the tail
// segment's file (the append that filled it wrote the segment's index) but
// did not record it in the meta database, because that write failed (a full
// disk) or the process stopped in between. raft-wal v0.4.0 would find the
// tail sealed when it recovers it and refuse every append with ErrSealed, also
// after a restart. This records what its rotation records: the tail sealed
// at its last entry, and a new empty tail after it, whose file wal.Open then
// creates.
func finishRotation(path string, vfs types.VFS, meta types.MetaStore, segmentSize int) error {
	defer meta.Close()
	ps, err := meta.Load(path)
	if err != nil || len(ps.Segments) == 0 {
		return err
	}
	tail := ps.Segments[len(ps.Segments)-1]
	if !tail.SealTime.IsZero() {
		return nil
	}
	w, err := segment.NewFiler(path, vfs).RecoverTail(tail)
	if errors.Is(err, os.ErrNotExist) {
		return nil // recorded but never created: wal.Open creates it
	}
	if err != nil {
		return err
	}
	sealed, indexStart, err := w.Sealed()
	last := w.LastIndex()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil || !sealed {
		return err
	}
	now := time.Now()
	tail.SealTime, tail.MaxIndex, tail.IndexStart = now, last, indexStart
	ps.Segments[len(ps.Segments)-1] = tail
	ps.Segments = append(ps.Segments, types.SegmentInfo{
		ID: ps.NextSegmentID, BaseIndex: last + 1, MinIndex: last + 1,
		SizeLimit: uint32(segmentSize), Codec: wal.CodecBinaryV1, CreateTime: now,
	})
	ps.NextSegmentID++
	return meta.CommitState(ps)
}
