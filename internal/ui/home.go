package ui

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// homePage is the data of templates/home.html.
type homePage struct {
	*view
	Tags     []tagLink
	Filter   []string
	Builders []*tile
	Failing  int
	Running  []*running
	Queue    []*queued
	// QueueTotal counts every queued request shown builders have; Queue
	// holds the oldest maxQueue.
	QueueTotal int
}

// tile is one builder on Home.
type tile struct {
	ID      uint64
	Name    string
	Result  string // of its last finished build; "none" without one
	Number  int32  // that build's number
	Ended   int64
	Running int
	Queued  int
}

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

const maxQueue = 100

// failingRank orders results on Home: failing builders first.
func failingRank(result string) int {
	switch result {
	case "failure", "exception":
		return 0
	case "warnings", "cancelled", "retry":
		return 1
	}
	return 2
}

func (u *UI) home(r *http.Request, v *view) (any, error) {
	p := &homePage{view: v, Filter: r.URL.Query()["tag"]}
	shown, tags := v.filterBuilders(p.Filter)
	p.Tags = tags
	byID := map[uint64]*tile{}
	for _, b := range shown {
		t := &tile{ID: b.Id, Name: b.Name, Result: "none"}
		for row := range state.ScanIndex(v.txn, state.TableBuilds, state.IndexBuilderNumber+"_prefix", true, b.Id) {
			if bd := row.(*messages.Build); bd.Results != nil {
				t.Result, t.Number, t.Ended = buildResult(bd), bd.Number, bd.CompleteAt
				break
			}
		}
		if failingRank(t.Result) == 0 {
			p.Failing++
		}
		byID[b.Id] = t
		p.Builders = append(p.Builders, t)
	}
	slices.SortStableFunc(p.Builders, func(a, b *tile) int { return cmp.Compare(failingRank(a.Result), failingRank(b.Result)) })
	p.Running = v.runningBuilds(func(b *messages.Build) bool {
		if t := byID[b.Builderid]; t != nil {
			t.Running++
			return true
		}
		return false
	})
	p.Queue, p.QueueTotal = v.queue(func(r *messages.BuildRequest) bool {
		if t := byID[r.Builderid]; t != nil {
			t.Queued++
			return true
		}
		return false
	}, maxQueue)
	return p, nil
}

// filterBuilders returns the builders carrying every tag of filter, by
// name, and every tag of all builders with its count.
func (v *view) filterBuilders(filter []string) ([]*messages.Builder, []tagLink) {
	counts := map[string]int{}
	var shown []*messages.Builder
	for row := range state.ScanIndex(v.txn, state.TableBuilders, state.IndexName+"_prefix", false) {
		b := row.(*messages.Builder)
		for _, t := range b.Tags {
			counts[t]++
		}
		ok := true
		for _, f := range filter {
			if !slices.Contains(b.Tags, f) {
				ok = false
				break
			}
		}
		if ok {
			shown = append(shown, b)
		}
	}
	tags := make([]tagLink, 0, len(counts))
	for t, n := range counts {
		tags = append(tags, tagLink{Name: t, Count: n, Selected: slices.Contains(filter, t)})
	}
	slices.SortFunc(tags, func(a, b tagLink) int { return cmp.Compare(a.Name, b.Name) })
	return shown, tags
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
