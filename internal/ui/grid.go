package ui

import (
	"cmp"
	"html"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// gridPage is the data of templates/grid.html: builders down, branches
// across, each cell the builder's newest build on that branch.
type gridPage struct {
	*view
	Tags     []tagLink
	Filter   []string
	Branches []string
	Rows     []*gridRow
}

// Rows is the grid's body, rendered in Go (see cellsHTML).
func (p *gridPage) RowsHTML() template.HTML {
	var b strings.Builder
	b.Grow(len(p.Rows) * (60 + 50*len(p.Branches)))
	for _, r := range p.Rows {
		b.WriteString(`<tr><th><a href="`)
		b.WriteString(builderHref(r.Builder.Name))
		b.WriteString(`">`)
		b.WriteString(html.EscapeString(r.Builder.Name))
		b.WriteString("</a></th>")
		writeCells(&b, r.Cells, true)
		b.WriteString("</tr>\n")
	}
	return template.HTML(b.String())
}

type gridRow struct {
	Builder *messages.Builder
	Cells   []*messages.Build
}

// branchOf is the branch build b built: its branch property (which the
// botmaster sets from its sourcestamp) when it has one, else its
// sourcestamp's, which costs two lookups.
func (v *view) branchOf(b *messages.Build) string {
	for _, p := range b.Properties {
		if p.Name == "branch" {
			return jsonText(p.ValueJson)
		}
	}
	return v.buildSource(b).Branch()
}

// Grid limits: builds looked at per builder, branches shown without
// ?branch=, and builders whose newest builds are remembered.
const (
	gridDepth    = 10
	gridBranches = 10
	gridBuilders = 16384
)

// recentBuilds are a builder's newest builds (up to gridDepth, newest
// first) with the branch of each, as read from one version of the state.
type recentBuilds struct {
	builds   []*messages.Build
	branches []string
}

// gridRecent returns builder id's newest builds and their branches as v
// holds them: those the grid read before from a version whose builds of
// the builder are v's very own (UI.recent), else read from v (and
// remembered). So a page is one version of the state, never a newer
// builder's builds than the rest of it. At 1,000 builders, reading each
// builder's builds and their branches was most of the grid's cost, and
// between two refreshes of a page most builders have no new build.
func (u *UI) gridRecent(v *view, builderid uint64) recentBuilds {
	it, err := v.txn.Get(state.TableBuilds, state.IndexBuilderNumber+"_prefix", builderid)
	if err != nil {
		return recentBuilds{}
	}
	return u.recent.get(builderid, it.WatchCh(), func() recentBuilds {
		r := recentBuilds{builds: v.recent(builderid, gridDepth)}
		r.branches = make([]string, len(r.builds))
		for k, bd := range r.builds {
			r.branches[k] = v.branchOf(bd)
		}
		return r
	})
}

func (u *UI) grid(r *http.Request, v *view) (any, error) {
	q := r.URL.Query()
	p := &gridPage{view: v, Filter: q["tag"]}
	sb := v.filterBuilders(p.Filter)
	shown := sb.builders
	p.Tags = sb.tags
	want := q["branch"]
	latest := map[string]uint64{} // branch → newest build id on it
	byBuilder := make([]map[string]*messages.Build, len(shown))
	for i, b := range shown {
		cells := map[string]*messages.Build{}
		rec := u.gridRecent(v, b.Id)
		for k, bd := range rec.builds {
			br := rec.branches[k]
			if len(want) > 0 && !slices.Contains(want, br) {
				continue
			}
			if cells[br] == nil {
				cells[br] = bd
				latest[br] = max(latest[br], bd.Id)
			}
		}
		byBuilder[i] = cells
	}
	for br := range latest {
		p.Branches = append(p.Branches, br)
	}
	slices.SortFunc(p.Branches, func(a, b string) int { return cmp.Or(cmp.Compare(latest[b], latest[a]), cmp.Compare(a, b)) })
	if len(want) == 0 && len(p.Branches) > gridBranches {
		p.Branches = p.Branches[:gridBranches]
	}
	for i, b := range shown {
		row := &gridRow{Builder: b, Cells: make([]*messages.Build, len(p.Branches))}
		for j, br := range p.Branches {
			row.Cells[j] = byBuilder[i][br]
		}
		p.Rows = append(p.Rows, row)
	}
	return p, nil
}
