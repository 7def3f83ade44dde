package ui

import (
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// consolePage is the data of templates/console.html: the newest changes
// down, the builders that built them across, a cell per build.
type consolePage struct {
	*view
	Tags    []tagLink
	Filter  []string
	Columns []*messages.Builder
	Rows    []*consoleRow
	// Hidden counts the builders left out because none of their builds is
	// for a shown change (only without a tag filter, which shows all of
	// its builders).
	Hidden int
	// Older is the ?before= of the next page, 0 when none.
	Older uint64
}

// ColumnsHTML renders the builders' column heads in Go: up to 1,000, which
// cost the template's reflective calls and escapers more than the rest of
// the page.
func (p *consolePage) ColumnsHTML() template.HTML {
	var b strings.Builder
	for _, c := range p.Columns {
		name := html.EscapeString(c.Name)
		b.WriteString(`<th class="vert"><a href="` + builderHref(c.Name) + `" title="` + name + `">` + name + "</a></th>")
	}
	return template.HTML(b.String())
}

// CellsHTML renders the row's cells in Go (see writeCells).
func (r *consoleRow) CellsHTML() template.HTML {
	var b strings.Builder
	writeCells(&b, r.Cells, false)
	return template.HTML(b.String())
}

// builderHref is the link to builder name's page, escaped for an HTML
// attribute, for the pages written in Go (console, grid, home).
func builderHref(name string) string {
	return html.EscapeString("/builders/" + url.PathEscape(name))
}

// writeCells writes a matrix's cells, one per build (empty for nil), each
// coloured by the build's result and linking to it (labelled with its
// number when label is set); a run of empty cells is one cell spanning
// their columns (console rows at 1,000 builders are mostly empty). Console
// and grid show up to tens of thousands; written here they cost a tenth of
// what the template's reflective calls and escapers would. Nothing written
// is user text.
func writeCells(b *strings.Builder, builds []*messages.Build, label bool) {
	for i := 0; i < len(builds); {
		bd := builds[i]
		if bd == nil {
			n := 1
			for i+n < len(builds) && builds[i+n] == nil {
				n++
			}
			i += n
			if n == 1 {
				b.WriteString("<td></td>")
			} else {
				b.WriteString(`<td colspan="` + strconv.Itoa(n) + `"></td>`)
			}
			continue
		}
		i++
		id, num, res := strconv.FormatUint(bd.Id, 10), strconv.Itoa(int(bd.Number)), buildResult(bd)
		b.WriteString(`<td class="r-` + res + `"><a href="/builds/` + id)
		if label {
			b.WriteString(`">#` + num + "</a></td>")
		} else {
			b.WriteString(`" title="#` + num + " " + res + `"></a></td>`)
		}
	}
}

type consoleRow struct {
	Change  *messages.Change
	Cells   []*messages.Build // by column; nil where the builder has none
	Failing []*messages.Build
	Running int
	Passed  int
}

// Console limits: changes per page (default and most), and how many of the
// newest builds are looked at to find theirs.
const (
	consoleRows    = 20
	consoleMaxRows = 100
	consoleScan    = 20_000
)

func (u *UI) console(r *http.Request, v *view) (any, error) {
	q := r.URL.Query()
	p := &consolePage{view: v, Filter: q["tag"]}
	limit, err := intParam(q.Get("limit"), consoleRows, 1, consoleMaxRows)
	if err != nil {
		return nil, badRequest("limit=%q: %v", q.Get("limit"), err)
	}
	before, err := intParam(q.Get("before"), 0, 1, 1<<62)
	if err != nil {
		return nil, badRequest("before=%q: %v", q.Get("before"), err)
	}
	sb := v.filterBuilders(p.Filter)
	shown := sb.builders
	p.Tags = sb.tags

	// The changes, newest first, and the rows of each sourcestamp.
	rowsOf := map[uint64][]int{}
	minWhen := int64(1<<63 - 1)
	from := uint64(1<<64 - 1)
	if before > 0 {
		from = uint64(before) - 1
	}
	for c := range state.ChangesFrom(v.txn, from) {
		if int64(len(p.Rows)) == limit {
			p.Older = p.Rows[len(p.Rows)-1].Change.Changeid
			break
		}
		rowsOf[c.Sourcestampid] = append(rowsOf[c.Sourcestampid], len(p.Rows))
		minWhen = min(minWhen, c.WhenTimestamp)
		p.Rows = append(p.Rows, &consoleRow{Change: c})
	}

	// The newest build of each builder for each row, found among the
	// builds started since the oldest shown change.
	cells := make([]map[uint64]*messages.Build, len(p.Rows))
	for i := range cells {
		cells[i] = map[uint64]*messages.Build{}
	}
	used := make([]bool, len(shown)) // by index in shown
	scanned := 0
	for row := range state.Scan(v.txn, state.TableBuilds, true) {
		b := row.(*messages.Build)
		if scanned++; scanned > consoleScan || b.StartedAt < minWhen {
			break
		}
		at, ok := sb.at[b.Builderid]
		if !ok {
			continue
		}
		for _, ssid := range v.buildSource(b).stampIDs {
			for _, i := range rowsOf[ssid] {
				if cells[i][b.Builderid] == nil {
					cells[i][b.Builderid] = b
					used[at] = true
				}
			}
		}
	}
	col := make([]int, len(shown)) // index in shown → column
	for i, b := range shown {
		if used[i] || len(p.Filter) > 0 {
			col[i] = len(p.Columns)
			p.Columns = append(p.Columns, b)
		}
	}
	p.Hidden = len(shown) - len(p.Columns)
	for i, row := range p.Rows {
		row.Cells = make([]*messages.Build, len(p.Columns))
		for builderid, bd := range cells[i] {
			row.Cells[col[sb.at[builderid]]] = bd
		}
		for _, bd := range row.Cells {
			switch {
			case bd == nil:
			case bd.Results == nil:
				row.Running++
			case failingRank(buildResult(bd)) == 0:
				row.Failing = append(row.Failing, bd)
			default:
				row.Passed++
			}
		}
	}
	return p, nil
}
