package state

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Stats is what GET /debug/db shows.
type Stats struct {
	Durable           bool
	Dir               string
	Rows              map[string]int
	LastIndex         uint64 // raft last log index
	LastTerm          uint64
	AppliedIndex      uint64
	LastSnapshotIndex uint64
	LastSnapshotTerm  uint64
	LastSnapshotTime  time.Time // zero when there is none
	JournalBytes      int64     // the raft log (LogDir) on disk
	SnapshotBytes     int64     // snapshot files on disk
}

// Stats reports the rows per table, raft's position and disk usage.
func (s *Store) Stats() Stats {
	st := Stats{Durable: s.raft != nil, Dir: s.dir, Rows: map[string]int{}}
	txn := s.Read()
	for _, t := range Tables {
		st.Rows[t] = Count(txn, t)
	}
	if s.raft == nil {
		return st
	}
	rs := s.raft.Stats()
	u := func(k string) uint64 { v, _ := strconv.ParseUint(rs[k], 10, 64); return v }
	st.LastIndex, st.LastTerm, st.AppliedIndex = u("last_log_index"), u("last_log_term"), u("applied_index")
	st.LastSnapshotIndex, st.LastSnapshotTerm = u("last_snapshot_index"), u("last_snapshot_term")
	if list, err := s.snaps.List(); err == nil && len(list) > 0 {
		// raft's snapshot ids are term-index-unixmillis.
		parts := strings.Split(list[0].ID, "-")
		if ms, err := strconv.ParseInt(parts[len(parts)-1], 10, 64); err == nil {
			st.LastSnapshotTime = time.UnixMilli(ms).UTC()
		}
	}
	st.JournalBytes = diskUsage(filepath.Join(s.dir, LogDir))
	st.SnapshotBytes = diskUsage(filepath.Join(s.dir, SnapshotDir))
	return st
}

// diskUsage is the bytes the files under dir take on disk (segment files
// are preallocated sparse files, so their length would overstate it).
func diskUsage(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				} else {
					n += fi.Size()
				}
			}
		}
		return nil
	})
	return n
}
