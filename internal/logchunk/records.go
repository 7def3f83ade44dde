package logchunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Small logs whose durability rides elsewhere (Writer.CloseDeferred): their
// records are written to the segment without an fsync, and the caller keeps
// a durable copy of each (the db service: in the raft command that records
// the log). SyncRecords makes the segment hold them durably, after which
// the copies may go (the db service: before a snapshot lets raft drop the
// commands); PutRecord writes one back after a crash lost it from the
// segment's unsynced tail (the db service: when the command is applied,
// also when raft replays it).

// PutRecord makes sure the store holds log logid's record, rec (as
// CloseDeferred returned it): it writes rec as a small log's record unless
// the store has the log already (a record or a file), so that handing the
// same record over again changes nothing. The record is not synced (see
// SyncRecords). A record that is not one of logid's, or is damaged, is
// refused with an error, and nothing is written.
func (s *Store) PutRecord(logid uint64, rec []byte) error {
	if _, ok := s.small.lookup(logid); ok {
		return nil
	}
	if err := s.checkRecord(logid, rec); err != nil {
		return fmt.Errorf("logchunk: put record of log %d: %w", logid, err)
	}
	if _, err := os.Lstat(s.Path(logid)); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("logchunk: put record of log %d: %w", logid, err)
	}
	frame := append(make([]byte, FrameHeaderSize, FrameHeaderSize+len(rec)), rec...)
	if err := s.small.redo(logid, frame); err != nil {
		return fmt.Errorf("logchunk: put record of log %d: %w", logid, err)
	}
	return nil
}

// checkRecord checks that rec is a sound record of log logid: a file
// header naming it and whole, undamaged chunks (at most one).
func (s *Store) checkRecord(logid uint64, rec []byte) error {
	if len(rec) > maxFrameBody {
		return fmt.Errorf("record of %d bytes, at most %d", len(rec), maxFrameBody)
	}
	h, err := parseFileHeader(rec)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if h.logid != logid {
		return fmt.Errorf("record of log %d", h.logid)
	}
	rep, err := check(context.Background(), newScanner(logid, bytes.NewReader(rec), int64(len(rec)), s.codec, nil))
	switch {
	case err != nil:
		return err
	case len(rep.Damage) > 0:
		return fmt.Errorf("record: %w", rep.Damage[0])
	case rep.Torn > 0:
		return fmt.Errorf("record: %d bytes torn at its end", rep.Torn)
	case rep.Chunks > 1:
		return fmt.Errorf("record: %d chunks, a small log has one", rep.Chunks)
	}
	return nil
}

// HasRecord reports whether the store holds log logid's contents: a small
// log's record or a file.
func (s *Store) HasRecord(logid uint64) bool {
	if _, ok := s.small.lookup(logid); ok {
		return true
	}
	_, err := os.Lstat(s.Path(logid))
	return err == nil
}

// SyncRecords makes every small log's record written so far durable (one
// fsync of the active segment, and of any sealed since the last).
func (s *Store) SyncRecords() error {
	if err := s.small.sync(); err != nil {
		return fmt.Errorf("logchunk: sync records: %w", err)
	}
	return nil
}
