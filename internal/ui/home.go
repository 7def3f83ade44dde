package ui

import (
	"cmp"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// homePage is the data of templates/home.html.
type homePage struct {
	*view
	Tags     []tagLink
	Filter   []string
	Builders int // how many are shown
	Tiles    template.HTML
	Failing  int
	Running  []*running
	Queue    []*queued
	// QueueTotal counts every queued request shown builders have; Queue
	// holds the oldest maxQueue.
	QueueTotal int
}

// tile is one builder on Home. Home shows a thousand of them, so what the
// template prints of each is worked out here, in as few fields as it can
// (every template action costs a reflective call and an escaper).
type tile struct {
	ID      uint64
	Name    string
	Result  string // of its last finished build; "none" without one
	Number  int32  // that build's number
	Ended   int64
	Running int
	Queued  int
}

// class is the tile's CSS classes: its result, and busy while it builds.
func (t *tile) class() string {
	c := "tile r-" + t.Result
	if t.Running > 0 {
		c += " busy"
	}
	return c
}

// detail is the tile's second line: last build, running and queued.
func (t *tile) detail(v *view) string {
	var b strings.Builder
	if t.Number > 0 {
		b.WriteString("#" + strconv.Itoa(int(t.Number)) + " " + t.Result + " " + v.Ago(t.Ended))
	} else {
		b.WriteString("no builds yet")
	}
	if t.Running > 0 {
		b.WriteString(" · " + strconv.Itoa(t.Running) + " running")
	}
	if t.Queued > 0 {
		b.WriteString(" · " + strconv.Itoa(t.Queued) + " queued")
	}
	return b.String()
}

// tilesHTML renders the tiles in Go rather than in the template: at a
// thousand builders the template's reflective calls and escapers cost
// three quarters of Home. Every text is escaped here as the template would.
func (v *view) tilesHTML(tiles []*tile) template.HTML {
	var b strings.Builder
	b.Grow(len(tiles) * 140)
	for _, t := range tiles {
		b.WriteString(`<a class="`)
		b.WriteString(t.class())
		b.WriteString(`" data-builder="`)
		b.WriteString(strconv.FormatUint(t.ID, 10))
		b.WriteString(`" href="/builders/`)
		b.WriteString(html.EscapeString(url.PathEscape(t.Name)))
		b.WriteString(`"><b>`)
		b.WriteString(html.EscapeString(t.Name))
		b.WriteString(`</b><small>`)
		b.WriteString(html.EscapeString(t.detail(v)))
		b.WriteString("</small></a>\n")
	}
	return template.HTML(b.String())
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

const maxQueue = 50

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
	tiles := make([]*tile, 0, len(shown))
	for _, b := range shown {
		t := &tile{ID: b.Id, Name: b.Name, Result: "none"}
		if bd := v.lastFinished(b.Id); bd != nil {
			t.Result, t.Number, t.Ended = buildResult(bd), bd.Number, bd.CompleteAt
		}
		if failingRank(t.Result) == 0 {
			p.Failing++
		}
		byID[b.Id] = t
		tiles = append(tiles, t)
	}
	slices.SortStableFunc(tiles, func(a, b *tile) int { return cmp.Compare(failingRank(a.Result), failingRank(b.Result)) })
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
	p.Builders, p.Tiles = len(tiles), v.tilesHTML(tiles)
	return p, nil
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
