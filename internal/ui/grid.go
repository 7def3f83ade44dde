package ui

import (
	"cmp"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

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
		b.WriteString(`<tr><th><a href="/builders/`)
		b.WriteString(html.EscapeString(url.PathEscape(r.Builder.Name)))
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

// Grid limits: builds looked at per builder, and branches shown without
// ?branch=.
const (
	gridDepth    = 10
	gridBranches = 10
)

func (u *UI) grid(r *http.Request, v *view) (any, error) {
	q := r.URL.Query()
	p := &gridPage{view: v, Filter: q["tag"]}
	shown, tags := v.filterBuilders(p.Filter)
	p.Tags = tags
	want := q["branch"]
	latest := map[string]uint64{} // branch → newest build id on it
	byBuilder := make([]map[string]*messages.Build, len(shown))
	for i, b := range shown {
		cells := map[string]*messages.Build{}
		for _, bd := range v.recent(b.Id, gridDepth) {
			br := v.branchOf(bd)
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
