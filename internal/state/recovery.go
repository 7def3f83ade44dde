package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
)

// checkSnapshotDirs refuses to start when a snapshot directory has no
// readable meta.json: raft would not list it, and fall back to an older
// snapshot whose following log entries may already be compacted away;
// unless the directory is older than the newest listed: that is the rest
// of a removal, which it finishes. .tmp directories, raft's unfinished
// writes, are left to raft. The newest snapshot's CRC is checked as raft
// opens it (snapshotStore.Open), which refuses that fall-back too.
func checkSnapshotDirs(dir string, snaps *raft.FileSnapshotStore) error {
	listed, err := snaps.List()
	if err != nil {
		return fmt.Errorf("state: listing snapshots in %s: %w", filepath.Join(dir, SnapshotDir), err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, SnapshotDir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	ok := map[string]bool{}
	for _, m := range listed {
		ok[m.ID] = true
	}
	for _, e := range ents {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") || ok[e.Name()] {
			continue
		}
		path := filepath.Join(dir, SnapshotDir, e.Name())
		if len(listed) > 0 && olderSnapshot(e.Name(), listed[0]) {
			// Older than the newest listed: beyond the retained ones (List
			// lists only those), or half removed (raft removes old snapshots
			// meta.json first, and a stop in the middle leaves the rest).
			// The newest snapshot is whole, so finish the removal.
			if err := os.RemoveAll(path); err != nil {
				return fmt.Errorf("state: removing the half-removed old snapshot %s: %w", path, err)
			}
			continue
		}
		return fmt.Errorf("state: snapshot %s has no readable meta.json; refusing to start", path)
	}
	return nil
}

// olderSnapshot reports whether the snapshot directory name (raft's
// term-index-millis) is of a snapshot older than newest.
func olderSnapshot(name string, newest *raft.SnapshotMeta) bool {
	var term, index, ms uint64
	if n, err := fmt.Sscanf(name, "%d-%d-%d", &term, &index, &ms); err != nil || n != 3 || name != fmt.Sprintf("%d-%d-%d", term, index, ms) {
		return false
	}
	return term < newest.Term || (term == newest.Term && index < newest.Index)
}
