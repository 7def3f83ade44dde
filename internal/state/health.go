package state

import (
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"time"
)

// ErrDegraded is returned (wrapping the failure) for commands submitted
// while the raft log cannot be written: see Health.
var ErrDegraded = errors.New("state: writes are refused")

// Health is whether a Store can write to its disk. A failure lasts until
// a write of the same kind succeeds again, which the Store finds out by
// itself (see guardedLog).
type Health struct {
	// Log is the failure of the last write to the raft log; while it is
	// set, Submit refuses commands with ErrDegraded.
	Log error
	// Snapshot is the failure of the last snapshot; commands are still
	// accepted (they are durable in the log).
	Snapshot error
	// Since is when the first of the failures in force happened.
	Since time.Time
}

// Degraded reports whether a write has failed and none has succeeded since.
func (h Health) Degraded() bool { return h.Log != nil || h.Snapshot != nil }

// String is "ok", "degraded: disk full" (no space or quota left) or
// "degraded: disk write failed".
func (h Health) String() string {
	err := h.Log
	if err == nil {
		err = h.Snapshot
	}
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "degraded: disk full"
	default:
		return "degraded: disk write failed"
	}
}

// health keeps a Store's Health and logs each change of it once.
type health struct {
	log *slog.Logger
	dir string

	mu sync.Mutex
	h  Health
}

func (h *health) get() Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h
}

// logFailed records a failed write to the raft log.
func (h *health) logFailed(err error) { h.set(func(x *Health) { x.Log = err }) }

// logOK records a write to the raft log that succeeded.
func (h *health) logOK() { h.set(func(x *Health) { x.Log = nil }) }

// snapshot records the outcome of a snapshot.
func (h *health) snapshot(err error) { h.set(func(x *Health) { x.Snapshot = err }) }

func (h *health) set(change func(*Health)) {
	h.mu.Lock()
	was := h.h
	change(&h.h)
	now := h.h
	switch {
	case !was.Degraded() && now.Degraded():
		h.h.Since = time.Now()
	case !now.Degraded():
		h.h.Since = time.Time{}
	}
	h.mu.Unlock()
	switch {
	case was.Log == nil && now.Log != nil:
		h.log.Error("state: "+now.String()+": a write to the raft log failed; commands are refused until a write succeeds again (retried by itself)", "dir", h.dir, "error", now.Log)
	case was.Log != nil && now.Log == nil:
		h.log.Warn("state: the raft log is written again; commands are accepted", "dir", h.dir, "after", time.Since(was.Since).Round(time.Millisecond))
	}
	switch {
	case was.Snapshot == nil && now.Snapshot != nil:
		h.log.Error("state: "+Health{Snapshot: now.Snapshot}.String()+": a snapshot failed (retried by raft)", "dir", h.dir, "error", now.Snapshot)
	case was.Snapshot != nil && now.Snapshot == nil:
		h.log.Warn("state: snapshots succeed again", "dir", h.dir)
	}
}
