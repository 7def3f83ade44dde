package ui

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// shownBuilders are the builders a tag filter shows (home, console, grid),
// as read from one version of the builders table, with the watch channel
// of that version: the same (open) channel in another version means the
// very same builders. Shared by the pages rendered from that version:
// read-only.
type shownBuilders struct {
	// builders carry every tag of the filter, by name.
	builders []*messages.Builder
	// at is the index in builders of a builder's id: a builder is shown
	// when it is there.
	at map[uint64]int
	// tags are every tag of all builders, with its count.
	tags    []tagLink
	changed <-chan struct{}
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
	ch := it.WatchCh()
	key := fmt.Sprintf("%q", filter)
	current := true
	select {
	case <-ch: // v is an older version; the channel may be shared
		current = false
	default:
		if s, ok := v.u.shown.Get(key); ok && s.changed == ch {
			return s
		}
	}
	s := &shownBuilders{at: map[uint64]int{}, changed: ch}
	counts := map[string]int{}
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
			s.at[b.Id] = len(s.builders)
			s.builders = append(s.builders, b)
		}
	}
	s.tags = make([]tagLink, 0, len(counts))
	for t, n := range counts {
		s.tags = append(s.tags, tagLink{Name: t, Count: n, Selected: slices.Contains(filter, t)})
	}
	slices.SortFunc(s.tags, func(a, b tagLink) int { return cmp.Compare(a.Name, b.Name) })
	if current {
		v.u.shown.Add(key, s)
	}
	return s
}
