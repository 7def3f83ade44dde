package ui

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// What several pages list: builders by tag, the running builds with their
// ETA, the queue, a builder's newest finished build.

// running is a build that has not finished.
type running struct {
	Build    *messages.Build
	Builder  string
	Worker   string
	Expected int64 // seconds, 0 when unknown
}

// ETA is when the build is expected to end (epoch seconds), 0 when unknown.
func (r *running) ETA() int64 {
	if r.Expected == 0 {
		return 0
	}
	return r.Build.StartedAt + r.Expected
}

// queued is a build request waiting for a worker.
type queued struct {
	Request *messages.BuildRequest
	Builder string
	Source  *source
}

// Target names the request for Can.
func (q *queued) Target() string {
	return "builders/" + q.Builder + "/buildrequests/" + strconv.FormatUint(q.Request.Id, 10)
}

// tagLink is a tag of the filter, with how many builders carry it.
type tagLink struct {
	Name     string
	Count    int
	Selected bool
}

// lastFinished returns builder id's newest finished build, or nil.
func (v *view) lastFinished(builderid uint64) *messages.Build {
	// Usually the newest build; only a builder with builds running has to
	// look further.
	raw, err := v.txn.Last(state.TableBuilds, state.IndexBuilderNumber+"_prefix", builderid)
	if err != nil || raw == nil {
		return nil
	}
	if b := raw.(*messages.Build); b.Results != nil {
		return b
	}
	for n := 8; ; n *= 8 {
		bs := v.recent(builderid, n)
		for _, b := range bs {
			if b.Results != nil {
				return b
			}
		}
		if len(bs) < n {
			return nil
		}
	}
}

// runningBuilds returns the builds that have not finished and keep
// accepts, oldest first.
func (v *view) runningBuilds(keep func(*messages.Build) bool) []*running {
	var out []*running
	for row := range state.ScanIndex(v.txn, state.TableBuilds, state.IndexIncompleteBy+"_prefix", false) {
		b := row.(*messages.Build)
		if !keep(b) {
			continue
		}
		out = append(out, &running{Build: b, Builder: v.builder(b.Builderid).Name, Worker: v.WorkerName(b.Workerid), Expected: v.expected(b.Builderid)})
	}
	slices.SortFunc(out, func(a, b *running) int {
		return cmp.Or(cmp.Compare(a.Build.StartedAt, b.Build.StartedAt), cmp.Compare(a.Build.Id, b.Build.Id))
	})
	return out
}

// queue returns the oldest limit unclaimed requests that keep accepts
// (all when limit is 0) and how many keep accepted.
func (v *view) queue(keep func(*messages.BuildRequest) bool, limit int) ([]*queued, int) {
	var reqs []*messages.BuildRequest
	for row := range state.ScanIndex(v.txn, state.TableBuildRequests, state.IndexUnclaimed+"_prefix", false) {
		if r := row.(*messages.BuildRequest); keep(r) {
			reqs = append(reqs, r)
		}
	}
	slices.SortFunc(reqs, func(a, b *messages.BuildRequest) int {
		return cmp.Or(cmp.Compare(a.SubmittedAt, b.SubmittedAt), cmp.Compare(a.Id, b.Id))
	})
	total := len(reqs)
	if limit > 0 && len(reqs) > limit {
		reqs = reqs[:limit]
	}
	out := make([]*queued, len(reqs))
	for i, r := range reqs {
		out[i] = &queued{Request: r, Builder: v.builder(r.Builderid).Name, Source: v.sourceOf(r.Buildsetid)}
	}
	return out, total
}
