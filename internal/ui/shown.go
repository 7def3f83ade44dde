package ui

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// shownBuilders are the builders a tag filter shows (home, console, grid),
// as read from one version of the builders table. Shared by the pages
// rendered from the versions of the very same builders (UI.shown):
// read-only.
type shownBuilders struct {
	// builders carry every tag of the filter, by name.
	builders []*messages.Builder
	// at is the index in builders of a builder's id: a builder is shown
	// when it is there.
	at map[uint64]int
	// tags are every tag of all builders, with its count.
	tags []tagLink
}

// filters bounds the tag filters whose shown builders are remembered.
const filters = 64

// filterBuilders returns the builders carrying every tag of filter: those
// found before for filter in a version whose builders are v's very own,
// else found in v (and remembered). Builders change with a reconfig, pages
// are read at every refresh, so a page need not scan them, count their
// tags and index them each time.
func (v *view) filterBuilders(filter []string) *shownBuilders {
	it, err := v.txn.Get(state.TableBuilders, state.IndexName+"_prefix")
	if err != nil {
		return &shownBuilders{}
	}
	return v.u.shown.get(fmt.Sprintf("%q", filter), it.WatchCh(), func() *shownBuilders {
		s := &shownBuilders{at: map[uint64]int{}}
		counts := map[string]int{}
		for row := it.Next(); row != nil; row = it.Next() {
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
				s.at[b.Id] = len(s.builders)
				s.builders = append(s.builders, b)
			}
		}
		s.tags = make([]tagLink, 0, len(counts))
		for t, n := range counts {
			s.tags = append(s.tags, tagLink{Name: t, Count: n, Selected: slices.Contains(filter, t)})
		}
		slices.SortFunc(s.tags, func(a, b tagLink) int { return cmp.Compare(a.Name, b.Name) })
		return s
	})
}
