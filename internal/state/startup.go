package state

import (
	"log/slog"
	"math"
	"time"

	"github.com/hashicorp/raft"
)

// startup is what Open shows while it recovers the state: it logs the
// progress of the snapshot's restore and of the log's replay every
// Options.ProgressInterval, and the end of the recovery.
type startup struct {
	log           *slog.Logger
	every         time.Duration
	began         time.Time
	snapshot      int64           // bytes of the snapshot being restored (0: none)
	snapshotIndex uint64          // the raft index the snapshot covers
	restore       restoreProgress // how far its restore is
}

func newStartup(opts Options, snaps *raft.FileSnapshotStore) *startup {
	st := &startup{log: opts.Logger, every: opts.ProgressInterval, began: time.Now()}
	if list, err := snaps.List(); err == nil && len(list) > 0 {
		st.snapshot, st.snapshotIndex = list[0].Size, list[0].Index
	}
	return st
}

// done logs the end of the recovery.
func (st *startup) done(lastIndex uint64) {
	st.log.Info("state: recovered", slog.Uint64("snapshot_rows", st.restore.rows.Load()), slog.Uint64("last_index", lastIndex),
		slog.Duration("took", time.Since(st.began).Round(time.Millisecond)))
}

// progress logs, every st.every until stop closes, how far the restore and
// then the replay (applied of last: the index the FSM has applied, raft's
// last index) are.
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
		if done := st.restore.bytes.Load(); st.snapshot > 0 && done < st.snapshot {
			st.log.Info("state: restoring snapshot", slog.Uint64("rows", st.restore.rows.Load()),
				slog.String("done", percent(done, st.snapshot)), took)
			continue
		}
		a, last := applied()
		st.log.Info("state: replaying log", slog.Uint64("applied_index", a), slog.Uint64("last_index", last), took)
	}
}

func percent(n, of int64) string {
	return slog.Float64Value(math.Round(1000*float64(n)/float64(of))/10).String() + "%"
}
