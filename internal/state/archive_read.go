package state

import (
	"cmp"
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
			rows := archivedAll(txn, table, descending)
			if index != IndexID {
				rows = sortedRows(archivedAll(txn, table, false), archiveKeyCmp(table, index), descending)
			}
			for m := range rows {
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
		var cs []*cursor[*messages.ArchiveSegment, *messages.ArchivedBuild]
		for s := range stepArchive.segments(txn) {
			ids := list.ids(s)
			if c, ok := newCursor[*messages.ArchiveSegment, *messages.ArchivedBuild](s, ids, 0, len(ids), nil, descending); ok {
				cs = append(cs, c)
			}
		}
		for c := range merged(cs, descending) {
			b := c.decode(stepArchive, list.entry)
			var m proto.Message
			if table == TableLogs {
				if l := logIn(b, c.id()); l != nil {
					m = l
				}
			} else if st := stepIn(b, c.id()); st != nil {
				m = st
			}
			if m != nil && !yield(m) {
				return
			}
		}
	}
}
