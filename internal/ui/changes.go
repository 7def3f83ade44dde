package ui

import (
	"net/http"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// changesPage is the data of templates/changes.html: the newest changes,
// ?branch= filtered, ?before=ID paged.
type changesPage struct {
	*view
	Branch  string
	Changes []*messages.Change
	Older   uint64 // ?before= of the next page, 0 when none
}

const changesPerPage = 50

func (u *UI) changes(r *http.Request, v *view) (any, error) {
	q := r.URL.Query()
	p := &changesPage{view: v, Branch: q.Get("branch")}
	before, err := intParam(q.Get("before"), 0, 1, 1<<62)
	if err != nil {
		return nil, badRequest("before=%q: %v", q.Get("before"), err)
	}
	seq := state.Scan(v.txn, state.TableChanges, true)
	if q.Has("branch") {
		seq = state.ScanIndex(v.txn, state.TableChanges, state.IndexBranch, true, p.Branch)
	}
	for row := range seq {
		c := row.(*messages.Change)
		if before > 0 && c.Changeid >= uint64(before) {
			continue
		}
		if len(p.Changes) == changesPerPage {
			p.Older = p.Changes[len(p.Changes)-1].Changeid
			break
		}
		p.Changes = append(p.Changes, c)
	}
	return p, nil
}
