package db

import (
	"math"
	"slices"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// DefaultJanitorBatch is how many builds (or logs) one Expire removes at
// most when the config does not say (horizons.batch); simpler rows go ten
// times as many at once. The janitor's pacer makes them fewer when they
// take long.
const DefaultJanitorBatch = 100

// expiry is what the horizons let go, found in one read of the state
// (planExpiry), each list in increasing id order.
type expiry struct {
	builds, requests, buildsets, changes, sourcestamps, logContents []uint64
}

// planExpiry finds what horizons h let go at now in txn (see
// messages.HorizonsConfig):
//
//   - finished builds that finished before now-builds, or that are past
//     the newest builds_per_builder finished builds of their builder; the
//     newest build of a builder always stays (the next build's number
//     follows it);
//   - the complete build requests that no build left names: those of the
//     builds removed, and those that never had a build (collapsed or
//     cancelled) and completed before what is kept of their builder;
//   - complete buildsets whose requests all go;
//   - changes past the newest `changes`;
//   - sourcestamps of the changes and buildsets removed that no change or
//     buildset left names;
//   - the contents of the finished logs of steps that started before
//     now-logs, in builds that stay, walking the builds from where lh got
//     to (logHorizon).
//
// It returns where the logs' walk gets to once the expiry is written.
func planExpiry(txn *memdb.Txn, h *messages.HorizonsConfig, now time.Time, lh logHorizon) (expiry, logHorizon) {
	var e expiry
	if h == nil {
		return e, lh
	}
	removed, cutoffs := expiredBuilds(txn, h, now)
	for id := range removed {
		e.builds = append(e.builds, id)
	}
	slices.Sort(e.builds)
	reqs := expiredRequests(txn, removed, cutoffs)
	e.requests = sortedKeys(reqs)
	sets := expiredBuildsets(txn, reqs)
	e.buildsets = sortedKeys(sets)
	changes := expiredChanges(txn, h.GetChanges())
	e.changes = sortedKeys(changes)
	e.sourcestamps = expiredSourceStamps(txn, changes, sets)
	if d := h.GetLogs().AsDuration(); d > 0 {
		e.logContents, lh = lh.plan(txn, now.Add(-d).Unix(), removed)
	}
	return e, lh
}

// expiredBuilds returns the builds h lets go, and for each builder the
// time before which its complete requests without builds go: before the
// builds horizon, and, when builds_per_builder removed builds of it,
// before the oldest build it keeps started.
func expiredBuilds(txn *memdb.Txn, h *messages.HorizonsConfig, now time.Time) (map[uint64]bool, map[uint64]int64) {
	removed, cutoffs := map[uint64]bool{}, map[uint64]int64{}
	age, keep := h.GetBuilds().AsDuration(), int(h.GetBuildsPerBuilder())
	if age <= 0 && keep <= 0 {
		return removed, cutoffs
	}
	before := int64(0)
	if age > 0 {
		before = now.Add(-age).Unix()
	}
	for raw := range state.Scan(txn, state.TableBuilders, false) {
		builderid := raw.(*messages.Builder).Id
		kept, newest, byCount := 0, true, false
		oldestKept := int64(math.MaxInt64)
		for raw := range state.ScanIndex(txn, state.TableBuilds, state.IndexBuilderNumber+"_prefix", true, builderid) {
			b := raw.(*messages.Build)
			last := newest
			newest = false
			if !b.HasResults() {
				continue
			}
			over := keep > 0 && kept >= keep
			if last || (b.CompleteAt >= before && !over) {
				kept++
				oldestKept = min(oldestKept, b.StartedAt)
				continue
			}
			byCount = byCount || over
			removed[b.Id] = true
		}
		cutoff := before
		if byCount {
			cutoff = max(cutoff, oldestKept)
		}
		if cutoff > 0 {
			cutoffs[builderid] = cutoff
		}
	}
	return removed, cutoffs
}

// expiredRequests returns the complete requests no build left names: those
// of the builds removed, and those without a build that completed before
// their builder's cutoff. It reads the requests once, and the builds of
// those it finds alone (not every build: archived ones cost a decode).
func expiredRequests(txn *memdb.Txn, removed map[uint64]bool, cutoffs map[uint64]int64) map[uint64]bool {
	out := map[uint64]bool{}
	if len(removed) == 0 && len(cutoffs) == 0 {
		return out
	}
	named := map[uint64]bool{}
	for id := range removed {
		if b, ok := state.Lookup(txn, state.TableBuilds, id).(*messages.Build); ok {
			named[b.Buildrequestid] = true
		}
	}
	for raw := range state.Scan(txn, state.TableBuildRequests, false) {
		r := raw.(*messages.BuildRequest)
		if r.Complete && (named[r.Id] || r.CompleteAt < cutoffs[r.Builderid]) {
			out[r.Id] = true
		}
	}
	for id := range out {
		for raw := range state.ScanIndex(txn, state.TableBuilds, state.IndexBuildRequest, false, id) {
			if !removed[raw.(*messages.Build).Id] {
				delete(out, id) // a build left names it
				break
			}
		}
	}
	return out
}

// expiredBuildsets returns the complete buildsets whose requests all go.
func expiredBuildsets(txn *memdb.Txn, reqs map[uint64]bool) map[uint64]bool {
	out := map[uint64]bool{}
	if len(reqs) == 0 {
		return out
	}
	for raw := range state.Scan(txn, state.TableBuildsets, false) {
		bs := raw.(*messages.Buildset)
		if !bs.Complete {
			continue
		}
		all, any := true, false
		for r := range state.ScanIndex(txn, state.TableBuildRequests, state.IndexBuildset, false, bs.Id) {
			any = true
			if !reqs[r.(*messages.BuildRequest).Id] {
				all = false
				break
			}
		}
		if all && any {
			out[bs.Id] = true
		}
	}
	return out
}

// expiredChanges returns the changes past the newest keep (none when keep
// is 0).
func expiredChanges(txn *memdb.Txn, keep int32) map[uint64]bool {
	out := map[uint64]bool{}
	if keep <= 0 {
		return out
	}
	extra := state.Count(txn, state.TableChanges) - int(keep)
	for raw := range state.Scan(txn, state.TableChanges, false) {
		if extra <= 0 {
			break
		}
		out[raw.(*messages.Change).Changeid] = true
		extra--
	}
	return out
}

// expiredSourceStamps returns the sourcestamps of the changes and
// buildsets removed that no change or buildset left names.
func expiredSourceStamps(txn *memdb.Txn, changes, sets map[uint64]bool) []uint64 {
	candidates := map[uint64]bool{}
	for id := range changes {
		if c, ok := state.Lookup(txn, state.TableChanges, id).(*messages.Change); ok {
			candidates[c.Sourcestampid] = true
		}
	}
	for id := range sets {
		if bs, ok := state.Lookup(txn, state.TableBuildsets, id).(*messages.Buildset); ok {
			for _, ss := range bs.SourcestampIds {
				candidates[ss] = true
			}
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	for raw := range state.Scan(txn, state.TableBuildsets, false) {
		if bs := raw.(*messages.Buildset); !sets[bs.Id] {
			for _, ss := range bs.SourcestampIds {
				delete(candidates, ss)
			}
		}
	}
	var out []uint64
	for ss := range candidates {
		named := false
		for c := range state.ScanIndex(txn, state.TableChanges, state.IndexChangeSourceStamp, false, ss) {
			if !changes[c.(*messages.Change).Changeid] {
				named = true
				break
			}
		}
		if !named && ss != 0 {
			out = append(out, ss)
		}
	}
	slices.Sort(out)
	return out
}

func sortedKeys(m map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// next takes from e the next Expire, of at most n builds or logs (ten
// times as many simpler rows), in the order they can go: builds, then
// requests, buildsets, changes, sourcestamps and log contents; nil once e
// is empty.
func (e *expiry) next(n int) *messages.Expire {
	n = max(1, n)
	take := func(ids *[]uint64, n int) []uint64 {
		k := min(n, len(*ids))
		out := (*ids)[:k:k]
		*ids = (*ids)[k:]
		return out
	}
	switch {
	case len(e.builds) > 0:
		return &messages.Expire{Builds: take(&e.builds, n)}
	case len(e.requests) > 0:
		return &messages.Expire{Buildrequests: take(&e.requests, 10*n)}
	case len(e.buildsets) > 0:
		return &messages.Expire{Buildsets: take(&e.buildsets, 10*n)}
	case len(e.changes) > 0:
		return &messages.Expire{Changes: take(&e.changes, 10*n)}
	case len(e.sourcestamps) > 0:
		return &messages.Expire{Sourcestamps: take(&e.sourcestamps, 10*n)}
	case len(e.logContents) > 0:
		return &messages.Expire{LogContents: take(&e.logContents, n)}
	}
	return nil
}
