package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Pacing of the attempts to write again after a failed write to the log.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 5 * time.Second
)

// guardedLog is raft's LogStore and StableStore: the raft log (raftLog) made
// to survive failed writes, such as on a full disk, so that the Store
// writes again by itself once the disk takes writes again.
//
// Left alone, one failed write stops every later one: raft-wal v0.4.0 keeps
// in memory what a failed append put in its buffer (its frames and their
// offsets), so each later append fails as "non-monotonic"; a rotation whose
// new segment could not be recorded leaves the tail sealed, so each append
// fails with ErrSealed, also after a restart (finishRotation); and raft
// panics when its stable store cannot save the current term. raft itself
// copes with a failed StoreLogs: it fails the batch's futures and steps down;
// as the only voter it is elected again, saves the new term and writes a
// no-op entry, which is the write that finds out whether the disk is back.
//
// So, after a failed write, the log is closed and opened again from its
// files before the next write: what the failed append wrote has no commit
// frame on disk and is dropped, a half-done rotation is finished. Attempts
// are paced (retryFirst doubling to retryMax) by waiting before the next
// write. A failed Set is retried, paced alike, until it succeeds or the
// store closes. Health records the failure until a write succeeds.
//
// Reads take mu shared; writes and the reopening take it exclusively.
type guardedLog struct {
	dir    string // the Store's directory
	opts   walOptions
	health *health

	lock    *os.File      // dir/LOCK, held while open
	closing chan struct{} // closed by beginClose

	mu     sync.RWMutex
	log    *raftLog // nil after a failed reopening, until the next one works
	broken error    // the failed write; the log is reopened before the next
	want   uint64   // the last index raft has, when broken
	retry  time.Duration
	next   time.Time // no attempt before
}

// errNoLog is returned by reads while the log could not be reopened.
var errNoLog = errors.New("state: the raft log is closed after a failed write; it is reopened before the next write")

// openGuardedLog locks dir for this process, moves a bbolt log written by
// earlier releases into the WAL, and opens the WAL. A directory another
// process has open is refused at once, naming the directory.
func openGuardedLog(dir string, opts walOptions, h *health) (*guardedLog, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	if err := migrateBoltLog(dir, opts.logger); err != nil {
		lock.Close()
		return nil, err
	}
	path := filepath.Join(dir, LogDir)
	if err := os.MkdirAll(path, 0o700); err != nil {
		lock.Close()
		return nil, fmt.Errorf("state: %w", err)
	}
	l, err := openWAL(path, opts)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return &guardedLog{dir: dir, opts: opts, health: h, lock: lock, closing: make(chan struct{}), log: l}, nil
}

// beginClose makes waiting writes give up: raft is being shut down.
func (g *guardedLog) beginClose() {
	select {
	case <-g.closing:
	default:
		close(g.closing)
	}
}

// Close closes the log and releases the directory lock.
func (g *guardedLog) Close() error {
	g.beginClose()
	g.mu.Lock()
	defer g.mu.Unlock()
	var err error
	if g.log != nil {
		err = g.log.Close()
		g.log = nil
	}
	return errors.Join(err, g.lock.Close())
}

// read runs f on the open log.
func (g *guardedLog) read(f func(*raftLog) error) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.log == nil {
		return errNoLog
	}
	return f(g.log)
}

// write runs f on the log, reopened first if a write failed, and records
// its outcome.
func (g *guardedLog) write(f func(*raftLog) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.repairLocked(); err != nil {
		return err
	}
	before, _ := g.log.WAL.LastIndex()
	if err := f(g.log); err != nil {
		g.failedLocked(err, before)
		return err
	}
	g.retry = 0
	g.health.logOK()
	return nil
}

// failedLocked records a failed write, after which raft's log ends at want.
func (g *guardedLog) failedLocked(err error, want uint64) {
	if g.broken == nil {
		g.want = want
	}
	g.broken = err
	g.retry = min(max(2*g.retry, retryFirst), retryMax)
	g.next = time.Now().Add(g.retry)
	g.health.logFailed(err)
}

// repairLocked reopens the log after a failed write, once the pause since
// the last attempt is over. It gives up when the store closes.
func (g *guardedLog) repairLocked() error {
	for g.broken != nil {
		select {
		case <-g.closing:
			return ErrClosed
		default:
		}
		if wait := time.Until(g.next); wait > 0 {
			g.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-g.closing:
				t.Stop()
			}
			g.mu.Lock()
			continue
		}
		if err := g.reopenLocked(); err != nil {
			g.failedLocked(err, g.want)
			return err
		}
		g.broken = nil
	}
	if g.log == nil {
		return errNoLog // closed
	}
	return nil
}

// reopenLocked closes the log and opens it again from its files.
func (g *guardedLog) reopenLocked() error {
	if g.log != nil {
		err := g.log.Close()
		g.log = nil
		if err != nil {
			g.opts.logger.Warn("closing the raft log after a failed write", "error", err)
		}
	}
	l, err := openWAL(filepath.Join(g.dir, LogDir), g.opts)
	if err != nil {
		return err
	}
	g.log = l
	if last, _ := l.WAL.LastIndex(); last != g.want {
		// Only a failed fsync after a complete write can leave more on
		// disk than raft has; raft would append after its own last index
		// and fail for ever. The entries' fate is unknown to their callers
		// (they were told the write failed); a restart replays them.
		return fmt.Errorf("state: the raft log in %s ends at entry %d, raft at %d, after a failed write (%v): restart the master", filepath.Join(g.dir, LogDir), last, g.want, g.broken)
	}
	return nil
}

// FirstIndex implements raft.LogStore.
func (g *guardedLog) FirstIndex() (i uint64, err error) {
	err = g.read(func(l *raftLog) (err error) { i, err = l.FirstIndex(); return })
	return
}

// LastIndex implements raft.LogStore.
func (g *guardedLog) LastIndex() (i uint64, err error) {
	err = g.read(func(l *raftLog) (err error) { i, err = l.WAL.LastIndex(); return })
	return
}

// GetLog implements raft.LogStore.
func (g *guardedLog) GetLog(index uint64, log *raft.Log) error {
	return g.read(func(l *raftLog) error { return l.GetLog(index, log) })
}

// StoreLog implements raft.LogStore.
func (g *guardedLog) StoreLog(log *raft.Log) error { return g.StoreLogs([]*raft.Log{log}) }

// StoreLogs implements raft.LogStore.
func (g *guardedLog) StoreLogs(logs []*raft.Log) error {
	return g.write(func(l *raftLog) error { return l.StoreLogs(logs) })
}

// DeleteRange implements raft.LogStore.
func (g *guardedLog) DeleteRange(min, max uint64) error {
	return g.write(func(l *raftLog) error { return l.DeleteRange(min, max) })
}

// IsMonotonic tells raft that the log cannot have gaps (raft.MonotonicLogStore).
func (g *guardedLog) IsMonotonic() bool { return true }

// Get implements raft.StableStore.
func (g *guardedLog) Get(key []byte) (v []byte, err error) {
	err = g.read(func(l *raftLog) (err error) { v, err = l.Get(key); return })
	return
}

// GetUint64 implements raft.StableStore.
func (g *guardedLog) GetUint64(key []byte) (v uint64, err error) {
	err = g.read(func(l *raftLog) (err error) { v, err = l.GetUint64(key); return })
	return
}

// Set implements raft.StableStore; see setStable.
func (g *guardedLog) Set(key, val []byte) error {
	return g.setStable(func(l *raftLog) error { return l.Set(key, val) })
}

// SetUint64 implements raft.StableStore; see setStable.
func (g *guardedLog) SetUint64(key []byte, val uint64) error {
	return g.setStable(func(l *raftLog) error { return l.SetUint64(key, val) })
}

// setStable retries f until it succeeds: raft panics when it cannot save
// its current term. Once the store is closing it gives up and returns nil,
// so that raft can stop: the term it then holds in memory only is used for
// nothing durable (no entry is written once closing, and there is no other
// voter to vote for), and the next start goes on from the term saved.
func (g *guardedLog) setStable(f func(*raftLog) error) error {
	for {
		err := g.write(f)
		if err == nil {
			return nil
		}
		select {
		case <-g.closing:
			return nil
		default:
		}
	}
}
