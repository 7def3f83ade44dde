package state

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// LogSize is the size of the raft log: bytes on disk and entries.
type LogSize struct{ Bytes, Entries int64 }

// Compact takes a snapshot and drops the whole raft log before it (not
// only what is older than TrailingLogs, as raft does after its own
// snapshots). It returns the raft log's size before and after. An
// ephemeral Store has nothing to compact.
func (s *Store) Compact() (before, after LogSize, err error) {
	if s.raft == nil {
		return before, after, nil
	}
	before = s.logSize()
	rc := s.raft.ReloadableConfig()
	keep := rc
	rc.TrailingLogs = 0
	if err := s.raft.ReloadConfig(rc); err != nil {
		return before, before, fmt.Errorf("state: compact: %w", err)
	}
	err = s.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		err = nil
	}
	if rerr := s.raft.ReloadConfig(keep); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return before, s.logSize(), fmt.Errorf("state: compact: %w", err)
	}
	s.snapshotted()
	return before, s.logSize(), nil
}

// logSize measures the raft log.
func (s *Store) logSize() LogSize {
	n := LogSize{Bytes: diskUsage(filepath.Join(s.dir, LogDir))}
	first, ferr := s.logs.FirstIndex()
	last, lerr := s.logs.LastIndex()
	if ferr == nil && lerr == nil && last >= first && first > 0 {
		n.Entries = int64(last - first + 1)
	}
	return n
}

// snapshotPolicy takes snapshots besides raft's own (every
// SnapshotThreshold entries): once SnapshotBytes of commands were written
// since the last one, and once the last one is older than SnapshotAge while
// commands were written since. So the log replayed at start stays short in
// bytes (a few large commands) and in time (a quiet master).
type snapshotPolicy struct {
	bytes   atomic.Int64 // command bytes since the last snapshot
	entries atomic.Int64 // commands since the last snapshot
	last    atomic.Int64 // unix nanoseconds of the last snapshot (or Open)
	stop    chan struct{}
	done    chan struct{}
}

// wrote counts a command of n bytes handed to raft.
func (p *snapshotPolicy) wrote(n int) {
	p.bytes.Add(int64(n))
	p.entries.Add(1)
}

// snapshotted notes that a snapshot was just taken.
func (s *Store) snapshotted() {
	s.policy.bytes.Store(0)
	s.policy.entries.Store(0)
	s.policy.last.Store(time.Now().UnixNano())
}

// runSnapshotPolicy checks the policy every SnapshotInterval until Close.
func (s *Store) runSnapshotPolicy() {
	p := &s.policy
	p.last.Store(time.Now().UnixNano())
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(s.opts.SnapshotInterval)
		defer t.Stop()
		lastIndex := ""
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			if idx := s.raft.Stats()["last_snapshot_index"]; idx != lastIndex {
				if lastIndex != "" {
					s.snapshotted() // raft took one of its own
				}
				lastIndex = idx
			}
			age := time.Since(time.Unix(0, p.last.Load()))
			why := ""
			switch {
			case p.bytes.Load() >= s.opts.SnapshotBytes:
				why = "size"
			case p.entries.Load() > 0 && age >= s.opts.SnapshotAge:
				why = "age"
			default:
				continue
			}
			start := time.Now()
			err := s.raft.Snapshot().Error()
			if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
				s.opts.Logger.Warn("state: snapshot failed", slog.String("dir", s.dir), slog.String("why", why), slog.Any("error", err))
				continue
			}
			s.opts.Logger.Info("state: snapshot taken", slog.String("why", why), slog.Int64("bytes_since_last", p.bytes.Load()),
				slog.Int64("commands_since_last", p.entries.Load()), slog.Duration("took", time.Since(start)))
			s.snapshotted()
			lastIndex = s.raft.Stats()["last_snapshot_index"]
		}
	}()
}

// stopSnapshotPolicy stops runSnapshotPolicy's goroutine.
func (s *Store) stopSnapshotPolicy() {
	if s.policy.stop != nil {
		close(s.policy.stop)
		<-s.policy.done
	}
}
