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

// archivedChangeList is a change segment's list of its changes.
var archivedChangeList = segList[*messages.ChangeSegment]{IndexArchivedChanges, (*messages.ChangeSegment).GetChangeids,
	entryItself[*messages.ChangeSegment]}

// findArchivedChange returns the segment holding archived change id, with
// the change's index in it; nil when no segment does.
func findArchivedChange(txn *memdb.Txn, id uint64) (*messages.ChangeSegment, int) {
	if s, i, ok := archivedChangeList.find(txn, TableChangeArchive, id); ok {
		return s, i
	}
	return nil, 0
}

// archivedChangeIndex yields the archived changes that index (id, branch,
// sourcestamp) matches with args, in index order (or reversed), as
// ScanIndex does for the table's rows: args are the index's key (a
// changeid, a branch, a sourcestampid) or none. Changes are decoded as they
// are yielded.
func archivedChangeIndex(txn *memdb.Txn, index string, descending bool, args ...any) iter.Seq[proto.Message] {
	index = strings.TrimSuffix(index, "_prefix")
	if len(args) == 0 {
		if index == IndexID {
			return archivedChanges(changeArchive.segments(txn), nil, descending)
		}
		return sortedRows(archivedChanges(changeArchive.segments(txn), nil, false), changeKeyCmp(index), descending)
	}
	switch index {
	case IndexID:
		id, ok := argUint64(args[0])
		return func(yield func(proto.Message) bool) {
			if s, i := findArchivedChange(txn, id); ok && s != nil {
				if c, err := changeArchive.decode(s, i); err == nil {
					yield(c)
				}
			}
		}
	case IndexBranch:
		branch, ok := args[0].(string)
		if !ok {
			return func(func(proto.Message) bool) {}
		}
		return archivedChanges(segmentsBy(txn, IndexArchivedBranches, branch), func(s *messages.ChangeSegment, i int) bool {
			b := s.ChangeBranches[i]
			return int(b) < len(s.Branches) && s.Branches[b] == branch
		}, descending)
	case IndexChangeSourceStamp:
		ssid, ok := argUint64(args[0])
		if !ok {
			return func(func(proto.Message) bool) {}
		}
		return archivedChanges(segmentsBy(txn, IndexArchivedSourceStamps, ssid), func(s *messages.ChangeSegment, i int) bool {
			return s.Sourcestampids[i] == ssid
		}, descending)
	}
	return func(func(proto.Message) bool) {}
}

// segmentsBy returns the change segments index finds by arg.
func segmentsBy(txn *memdb.Txn, index string, arg any) iter.Seq[*messages.ChangeSegment] {
	return func(yield func(*messages.ChangeSegment) bool) {
		it, err := txn.Get(TableChangeArchive, index, arg)
		if err != nil {
			return
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if !yield(raw.(*messages.ChangeSegment)) {
				return
			}
		}
	}
}

// archivedChanges yields the changes of segs that match keeps (nil: all),
// in changeid order (or reversed), merging the segments lazily: a cursor
// finds a segment's next match when the one before is yielded, and a
// change is decoded when it is yielded.
func archivedChanges(segs iter.Seq[*messages.ChangeSegment], match func(*messages.ChangeSegment, int) bool, descending bool) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		var cs []*changeCursor
		for s := range segs {
			if len(s.Sourcestampids) != len(s.Changeids) || len(s.ChangeBranches) != len(s.Changeids) {
				continue // damaged: CheckArchive says so
			}
			if c, ok := newCursor[*messages.ChangeSegment, *messages.Change](s, s.Changeids, 0, len(s.Changeids), match, descending); ok {
				cs = append(cs, c)
			}
		}
		drainChanges(cs, descending, yield)
	}
}

// ChangesFrom yields the changes whose changeid is from or less, newest
// first, archived or not (the console's pages): it reads only what it
// yields, and stops when the caller stops.
func ChangesFrom(txn *memdb.Txn, from uint64) iter.Seq[*messages.Change] {
	table := func(yield func(proto.Message) bool) {
		it, err := txn.ReverseLowerBound(TableChanges, IndexID, from)
		if err != nil {
			return
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if !yield(raw.(proto.Message)) {
				return
			}
		}
	}
	archived := func(yield func(proto.Message) bool) {
		var cs []*changeCursor
		for s := range changeArchive.segments(txn) {
			n, found := slices.BinarySearch(s.Changeids, from)
			if found {
				n++
			}
			if c, ok := newCursor[*messages.ChangeSegment, *messages.Change](s, s.Changeids, 0, n, nil, true); ok {
				cs = append(cs, c)
			}
		}
		drainChanges(cs, true, yield)
	}
	return func(yield func(*messages.Change) bool) {
		for m := range mergeSorted(table, archived, changeKeyCmp(IndexID), true) {
			if !yield(m.(*messages.Change)) {
				return
			}
		}
	}
}

// drainChanges yields the changes of cursors cs, merged in changeid
// order (or reversed).
func drainChanges(cs []*changeCursor, descending bool, yield func(proto.Message) bool) {
	for c := range merged(cs, descending) {
		if m, err := changeArchive.decode(c.seg, c.pos); err == nil && !yield(m) {
			return
		}
	}
}

// changeCursor is a cursor in a change segment's changes.
type changeCursor = cursor[*messages.ChangeSegment, *messages.Change]

// changeKeyCmp orders changes as index does: by changeid, or by branch or
// sourcestamp then changeid.
func changeKeyCmp(index string) func(a, b proto.Message) int {
	byID := func(x, y *messages.Change) int { return cmp.Compare(x.Changeid, y.Changeid) }
	switch strings.TrimSuffix(index, "_prefix") {
	case IndexBranch:
		return func(a, b proto.Message) int {
			x, y := a.(*messages.Change), b.(*messages.Change)
			return cmp.Or(strings.Compare(x.Branch, y.Branch), byID(x, y))
		}
	case IndexChangeSourceStamp:
		return func(a, b proto.Message) int {
			x, y := a.(*messages.Change), b.(*messages.Change)
			return cmp.Or(cmp.Compare(x.Sourcestampid, y.Sourcestampid), byID(x, y))
		}
	}
	return func(a, b proto.Message) int { return byID(a.(*messages.Change), b.(*messages.Change)) }
}

// segmentLineIs reports whether change i of segment s, which has lines, is
// of line l.
func segmentLineIs(s *messages.ChangeSegment, i int, l changeLine) bool {
	k := s.ChangeLines[i]
	if int(k) >= len(s.Lines) {
		return false
	}
	x := s.Lines[k]
	return x.Repository == l.repository && x.Project == l.project && x.Codebase == l.codebase
}

// archivedParent returns the newest archived change of branch and line l
// (0: none). A segment with lines is searched without decoding, one with
// none of l's changes skipped whole; a segment written before lines is
// searched by decoding its changes of branch, newest first. What cannot be
// read is skipped, as reads do.
func archivedParent(txn *memdb.Txn, branch string, l changeLine) uint64 {
	var best uint64
	for s := range segmentsBy(txn, IndexArchivedBranches, branch) {
		b, ok := slices.BinarySearch(s.Branches, branch)
		lined := len(s.Lines) > 0
		if !ok || len(s.ChangeBranches) != len(s.Changeids) || lined && len(s.ChangeLines) != len(s.Changeids) {
			continue // damaged: CheckArchive says so
		}
		if lined && !slices.ContainsFunc(s.Lines, func(x *messages.ChangeLine) bool {
			return x.Repository == l.repository && x.Project == l.project && x.Codebase == l.codebase
		}) {
			continue
		}
		for i := len(s.Changeids) - 1; i >= 0 && s.Changeids[i] > best; i-- {
			if s.ChangeBranches[i] != uint32(b) {
				continue
			}
			if lined {
				if !segmentLineIs(s, i, l) {
					continue
				}
			} else if c, err := changeArchive.decode(s, i); err != nil || lineOf(c) != l {
				continue
			}
			best = s.Changeids[i]
			break
		}
	}
	return best
}
