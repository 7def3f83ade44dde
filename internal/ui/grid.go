package ui

import (
	"cmp"
	"net/http"
	"slices"

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

type gridRow struct {
	Builder *messages.Builder
	Cells   []*messages.Build
}

// Grid limits: builds looked at per builder, and branches shown without
// ?branch=.
const (
	gridDepth    = 20
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
		n := 0
		for row := range state.ScanIndex(v.txn, state.TableBuilds, state.IndexBuilderNumber+"_prefix", true, b.Id) {
			if n++; n > gridDepth {
				break
			}
			bd := row.(*messages.Build)
			br := v.buildSource(bd).Branch()
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
