package state

import (
	"cmp"
	"container/heap"
	"iter"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// archivedIndex yields the archived rows of table (steps or logs; nothing
// for another table) that index matches with args, in index order (or
// reversed), as ScanIndex does for the table's own rows: args are a prefix
// of the index's key (id; buildid, number; stepid).
func archivedIndex(txn *memdb.Txn, table, index string, descending bool, args ...any) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		if table != TableSteps && table != TableLogs {
			return
		}
		index = strings.TrimSuffix(index, "_prefix")
		if len(args) == 0 {
			var rows []proto.Message
			if index == IndexID {
				for m := range archivedAll(txn, table, descending) {
					if !yield(m) {
						return
					}
				}
				return
			}
			for m := range archivedAll(txn, table, false) {
				rows = append(rows, m)
			}
			c := archiveKeyCmp(table, index)
			slices.SortStableFunc(rows, func(a, b proto.Message) int {
				if descending {
					return c(b, a)
				}
				return c(a, b)
			})
			for _, m := range rows {
				if !yield(m) {
					return
				}
			}
			return
		}
		id, ok := argUint64(args[0])
		if !ok {
			return
		}
		var rows []proto.Message
		switch {
		case index == IndexID && table == TableSteps:
			if s := archivedStep(txn, id); s != nil {
				rows = append(rows, s)
			}
		case index == IndexID && table == TableLogs:
			if l := archivedLog(txn, id); l != nil {
				rows = append(rows, l)
			}
		case index == IndexBuildNumber && table == TableSteps:
			for _, s := range archivedBuild(txn, id).GetSteps() {
				if len(args) > 1 {
					if n, ok := args[1].(int32); !ok || s.Number != n {
						continue
					}
				}
				rows = append(rows, s)
			}
		case index == IndexStep && table == TableLogs:
			for _, l := range archivedStepLogs(txn, id) {
				rows = append(rows, l)
			}
		}
		if descending {
			slices.Reverse(rows)
		}
		for _, m := range rows {
			if !yield(m) {
				return
			}
		}
	}
}

// argUint64 is an index argument that is an id.
func argUint64(a any) (uint64, bool) {
	switch x := a.(type) {
	case uint64:
		return x, true
	case int:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}

// archiveKeyCmp orders steps or logs as index does.
func archiveKeyCmp(table, index string) func(a, b proto.Message) int {
	index = strings.TrimSuffix(index, "_prefix")
	switch {
	case table == TableSteps && index == IndexBuildNumber:
		return func(a, b proto.Message) int {
			x, y := a.(*messages.Step), b.(*messages.Step)
			return cmp.Or(cmp.Compare(x.Buildid, y.Buildid), cmp.Compare(x.Number, y.Number))
		}
	case table == TableLogs && index == IndexStep:
		return func(a, b proto.Message) int {
			x, y := a.(*messages.Log), b.(*messages.Log)
			return cmp.Or(cmp.Compare(x.Stepid, y.Stepid), cmp.Compare(x.Id, y.Id))
		}
	case table == TableSteps:
		return func(a, b proto.Message) int { return cmp.Compare(a.(*messages.Step).Id, b.(*messages.Step).Id) }
	}
	return func(a, b proto.Message) int { return cmp.Compare(a.(*messages.Log).Id, b.(*messages.Log).Id) }
}

// mergeSorted yields the rows of a and b, each in c's order (or reversed),
// in that order.
func mergeSorted(a, b iter.Seq[proto.Message], c func(x, y proto.Message) int, descending bool) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		before := func(x, y proto.Message) bool {
			if descending {
				return c(x, y) > 0
			}
			return c(x, y) < 0
		}
		next, stop := iter.Pull(b)
		defer stop()
		bm, bok := next()
		for am := range a {
			for bok && before(bm, am) {
				if !yield(bm) {
					return
				}
				bm, bok = next()
			}
			if !yield(am) {
				return
			}
		}
		for ; bok; bm, bok = next() {
			if !yield(bm) {
				return
			}
		}
	}
}

// archivedAll yields every archived step (table steps) or log in id order
// (or reversed): a merge of the segments' id lists.
func archivedAll(txn *memdb.Txn, table string, descending bool) iter.Seq[proto.Message] {
	list := archiveListOf(table)
	return func(yield func(proto.Message) bool) {
		h := &cursors{desc: descending}
		for raw := range Scan(txn, TableArchive, false) {
			s := raw.(*messages.ArchiveSegment)
			ids := list.ids(s)
			if len(ids) == 0 {
				continue
			}
			c := &cursor{seg: s, ids: ids, pos: 0, build: -1}
			if descending {
				c.pos = len(ids) - 1
			}
			h.items = append(h.items, c)
		}
		heap.Init(h)
		for h.Len() > 0 {
			c := h.items[0]
			if m := c.row(list); m != nil && !yield(m) {
				return
			}
			if descending {
				c.pos--
			} else {
				c.pos++
			}
			if c.pos < 0 || c.pos >= len(c.ids) {
				heap.Pop(h)
			} else {
				heap.Fix(h, 0)
			}
		}
	}
}

// cursor is a position in one segment's id list, with the build last
// decoded (a build's steps and logs mostly follow each other).
type cursor struct {
	seg     *messages.ArchiveSegment
	ids     []uint64
	pos     int
	build   int
	decoded *messages.ArchivedBuild
}

// row is the step or log at the cursor; nil when the segment is damaged.
func (c *cursor) row(list archiveList) proto.Message {
	bi, ok := list.build(c.seg, c.pos)
	if !ok {
		return nil
	}
	if bi != c.build {
		c.build = bi
		c.decoded, _ = segmentBuild(c.seg, bi)
	}
	id := c.ids[c.pos]
	if list.index == IndexArchivedLogs {
		if l := logIn(c.decoded, id); l != nil {
			return l
		}
	} else if s := stepIn(c.decoded, id); s != nil {
		return s
	}
	return nil // not a typed nil: the caller tests for nil
}

// cursors is a heap of cursors by their current id.
type cursors struct {
	items []*cursor
	desc  bool
}

func (h *cursors) Len() int { return len(h.items) }
func (h *cursors) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if h.desc {
		return a.ids[a.pos] > b.ids[b.pos]
	}
	return a.ids[a.pos] < b.ids[b.pos]
}
func (h *cursors) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *cursors) Push(x any)    { h.items = append(h.items, x.(*cursor)) }
func (h *cursors) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
