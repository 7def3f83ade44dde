package db

import (
	"slices"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// logHorizon is where the janitor's expiry of log contents (horizons.logs)
// got to, so that a run reads the builds whose logs may go since the run
// before, not the whole history: each build's steps and logs cost the
// decoding of its archive entry once finished builds are archived.
//
// Builds are walked in id order (the order they started in) up to the
// first that started after the cutoff. A build is settled once it finished
// before the cutoff (every step of it started before: its finished logs go
// now, and nothing of it comes later) or goes whole; the others walked
// (running, or finished after the cutoff) are pending, and looked at again
// at every run until they settle. The zero logHorizon walks from the first
// build. It lives in the janitor's memory: the first run after a start
// walks the whole history once.
type logHorizon struct {
	next    uint64          // the builds below have been walked
	pending map[uint64]bool // walked, not settled
	// looked is how many builds the last plan looked at.
	looked int
}

// plan returns the complete logs of the finished steps that started
// before cutoff (epoch seconds) of the builds that stay (not in removed)
// and are not deleted yet, in id order, and where the walk gets to once
// they are gone: the janitor keeps it only when every expiry of the run
// was written.
func (lh logHorizon) plan(txn *memdb.Txn, cutoff int64, removed map[uint64]bool) ([]uint64, logHorizon) {
	after := logHorizon{next: lh.next, pending: map[uint64]bool{}}
	var out []uint64
	for id := range lh.pending { // out is sorted below
		b, _ := state.Lookup(txn, state.TableBuilds, id).(*messages.Build)
		if b == nil || removed[id] {
			continue
		}
		after.looked++
		if !expiredLogsOf(txn, b, cutoff, &out) {
			after.pending[id] = true
		}
	}
	for raw := range state.ScanFrom(txn, state.TableBuilds, lh.next) {
		b := raw.(*messages.Build)
		if b.StartedAt >= cutoff {
			break // nor did the builds after it start before the cutoff
		}
		after.next = b.Id + 1
		if removed[b.Id] {
			continue
		}
		after.looked++
		if !expiredLogsOf(txn, b, cutoff, &out) {
			after.pending[b.Id] = true
		}
	}
	slices.Sort(out)
	return out, after
}

// expiredLogsOf appends to out the complete logs, not deleted yet, of the
// finished steps of build b that started before cutoff, and says whether
// b is settled: finished before cutoff.
func expiredLogsOf(txn *memdb.Txn, b *messages.Build, cutoff int64, out *[]uint64) bool {
	for s, l := range state.BuildLogs(txn, b.Id) {
		if s.StartedAt < cutoff && s.HasResults() && l.Complete && l.Type != state.LogTypeDeleted {
			*out = append(*out, l.Id)
		}
	}
	return b.HasResults() && b.CompleteAt < cutoff
}
