package ui

import (
	"cmp"
	"html"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

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

// tile is one builder on Home (written by tilesHTML).
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
		b.WriteString(`" href="`)
		b.WriteString(builderHref(t.Name))
		b.WriteString(`"><b>`)
		b.WriteString(html.EscapeString(t.Name))
		b.WriteString(`</b><small>`)
		b.WriteString(html.EscapeString(t.detail(v)))
		b.WriteString("</small></a>\n")
	}
	return template.HTML(b.String())
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
	q := r.URL.Query()
	p := &homePage{view: v, Filter: q["tag"]}
	// A live browser re-fetches one fragment at a time (live.js), each
	// within a second of a build's event: running and queue need neither
	// the tiles (a thousand builders' last builds) nor each other.
	frag := q.Get("fragment")
	tiles, running, queue := frag == "" || frag == "builders", frag != "queue", frag != "running"
	sb := v.filterBuilders(p.Filter)
	shown := sb.builders
	p.Tags = sb.tags
	byID := make(map[uint64]*tile, len(shown))
	all := make([]*tile, 0, len(shown))
	for _, b := range shown {
		t := &tile{ID: b.Id, Name: b.Name, Result: "none"}
		if tiles {
			if bd := v.lastFinished(b.Id); bd != nil {
				t.Result, t.Number, t.Ended = buildResult(bd), bd.Number, bd.CompleteAt
			}
			if failingRank(t.Result) == 0 {
				p.Failing++
			}
		}
		byID[b.Id] = t
		all = append(all, t)
	}
	if running {
		p.Running = v.runningBuilds(func(b *messages.Build) bool {
			if t := byID[b.Builderid]; t != nil {
				t.Running++
				return true
			}
			return false
		})
	}
	if queue {
		p.Queue, p.QueueTotal = v.queue(func(r *messages.BuildRequest) bool {
			if t := byID[r.Builderid]; t != nil {
				t.Queued++
				return true
			}
			return false
		}, maxQueue)
	}
	if tiles {
		slices.SortStableFunc(all, func(a, b *tile) int { return cmp.Compare(failingRank(a.Result), failingRank(b.Result)) })
		p.Builders, p.Tiles = len(all), v.tilesHTML(all)
	}
	return p, nil
}
