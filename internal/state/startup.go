package state

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// startup is what Open shows and tunes while it recovers the state: it logs
// the progress of the snapshot's restore and of the log's replay every
// Options.ProgressInterval, and holds the garbage collector back meanwhile.
type startup struct {
	log      *slog.Logger
	every    time.Duration
	began    time.Time
	snapshot int64         // bytes of the snapshot being restored (0: none)
	read     atomic.Int64  // of them, read so far
	rows     atomic.Uint64 // rows restored so far
	undoGC   func()
}

// relaxGC turns the garbage collector off until the heap reaches limit
// (or the limit set already, if lower) and returns what sets it back. A
// restore builds a heap of live rows from nothing: with the default GOGC
// the collector marks that growing heap again and again, for nothing
// (about a third of the restore's CPU in BenchmarkReadSnapshot). Stores
// opened at once share one hold (the collector's settings are the
// process's): the first saves the settings, the last sets them back.
func relaxGC(limit int64) func() {
	gcHold.mu.Lock()
	defer gcHold.mu.Unlock()
	if gcHold.n == 0 {
		gcHold.oldLimit = debug.SetMemoryLimit(-1)
		gcHold.oldPercent = debug.SetGCPercent(-1)
		gcHold.limit = 0
	}
	gcHold.n++
	gcHold.limit = min(max(gcHold.limit, limit), gcHold.oldLimit)
	debug.SetMemoryLimit(gcHold.limit)
	var once sync.Once
	return func() {
		once.Do(func() {
			gcHold.mu.Lock()
			defer gcHold.mu.Unlock()
			if gcHold.n--; gcHold.n == 0 {
				debug.SetGCPercent(gcHold.oldPercent)
				debug.SetMemoryLimit(gcHold.oldLimit)
			}
		})
	}
}

// gcHold is relaxGC's count of the restores going on, and the settings to
// set back: process-wide, as the collector's settings are.
var gcHold struct {
	mu              sync.Mutex
	n               int
	oldPercent      int
	oldLimit, limit int64
}

// gcLimitFor is the heap relaxGC lets a restore of a snapshot of size bytes
// reach: its rows take about eight times their encoded size in memdb.
func gcLimitFor(size int64) int64 {
	const floor = 256 << 20
	if size > math.MaxInt64/16 {
		return math.MaxInt64
	}
	return max(floor, 16*size)
}

func newStartup(opts Options, snaps *raft.FileSnapshotStore) *startup {
	st := &startup{log: opts.Logger, every: opts.ProgressInterval, began: time.Now()}
	if list, err := snaps.List(); err == nil && len(list) > 0 {
		st.snapshot = list[0].Size
	}
	if !opts.KeepGC {
		st.undoGC = relaxGC(gcLimitFor(st.snapshot))
	}
	return st
}

// release sets the collector back (once).
func (st *startup) release() {
	if st.undoGC != nil {
		st.undoGC()
		st.undoGC = nil
	}
}

// done sets the collector back and logs the end of the recovery.
func (st *startup) done(lastIndex uint64) {
	st.release()
	st.log.Info("state: recovered", slog.Uint64("snapshot_rows", st.rows.Load()), slog.Uint64("last_index", lastIndex),
		slog.Duration("took", time.Since(st.began).Round(time.Millisecond)))
}

// reader counts what the restore reads of r.
func (st *startup) reader(r io.Reader) io.Reader { return &countingReader{r: r, n: &st.read} }

// progress logs, every st.every until stop closes, how far the restore and
// then the replay (applied of last, raft's indexes) are.
func (st *startup) progress(stop <-chan struct{}, applied func() (uint64, uint64)) {
	if st.every <= 0 {
		return
	}
	t := time.NewTicker(st.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		took := slog.Duration("took", time.Since(st.began).Round(time.Millisecond))
		if read := st.read.Load(); st.snapshot > 0 && read < st.snapshot {
			st.log.Info("state: restoring snapshot", slog.Uint64("rows", st.rows.Load()),
				slog.String("done", percent(read, st.snapshot)), took)
			continue
		}
		a, last := applied()
		st.log.Info("state: replaying log", slog.Uint64("applied_index", a), slog.Uint64("last_index", last), took)
	}
}

func percent(n, of int64) string {
	return slog.Float64Value(math.Round(1000*float64(n)/float64(of))/10).String() + "%"
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
