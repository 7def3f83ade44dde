package state

import (
	"cmp"
	"container/heap"
	"iter"
	"math"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// inSetArchive reports whether table's rows may be in the buildset
// archive, and index (by which ScanIndex reads) may list them: the
// archive holds finished rows, never in the indexes of the unfinished
// (unclaimed, claimed_by, incomplete_by).
func inSetArchive(table, index string) bool {
	switch strings.TrimSuffix(index, "_prefix") {
	case IndexUnclaimed, IndexClaimedBy, IndexIncompleteBy:
		return false
	}
	return table == TableBuilds || table == TableBuildRequests || table == TableBuildsets
}

// archivedSetIndex yields the archived rows of table (builds,
// buildrequests or buildsets) that index matches with args, in index order
// (or reversed), as ScanIndex does for the table's own rows. It decodes
// only the buildsets of the rows it yields (and, for a whole table by an
// index other than id, or a builder's builds in ascending order, the
// segments' lists of those rows).
func archivedSetIndex(txn *memdb.Txn, table, index string, descending bool, args ...any) iter.Seq[proto.Message] {
	index = strings.TrimSuffix(index, "_prefix")
	if len(args) == 0 {
		switch {
		case index == IndexID:
			return archivedSetAll(txn, setListOf(table), table, descending)
		case table == TableBuildRequests && index == IndexBuildset:
			return archivedRequestsBySet(txn, descending)
		}
		return sortedRows(archivedSetAll(txn, setListOf(table), table, false), setKeyCmp(table, index), descending)
	}
	id, ok := argUint64(args[0])
	if !ok {
		return func(func(proto.Message) bool) {}
	}
	switch {
	case index == IndexID:
		return rowsOf(descending, archivedSetRow(txn, table, id))
	case table == TableBuildRequests && index == IndexBuildset:
		set := archivedSetOf(txn, archivedSets, id)
		return rowsOf(descending, toMessages(set.GetRequests())...)
	case table == TableBuilds && index == IndexBuildRequest:
		var rows []proto.Message
		for _, b := range archivedSetOf(txn, archivedRequests, id).GetBuilds() {
			if b.Buildrequestid == id {
				rows = append(rows, b)
			}
		}
		return rowsOf(descending, rows...)
	case table == TableBuilds && index == IndexBuilderNumber:
		if len(args) > 1 {
			n, ok := args[1].(int32)
			if !ok {
				return func(func(proto.Message) bool) {}
			}
			return rowsOf(descending, archivedBuildNumber(txn, id, n))
		}
		return archivedBuilderBuilds(txn, id, math.MaxInt32, descending)
	}
	return func(func(proto.Message) bool) {}
}

// rowsOf yields rows (nil ones left out) in order or reversed.
func rowsOf(descending bool, rows ...proto.Message) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		for i := range rows {
			m := rows[i]
			if descending {
				m = rows[len(rows)-1-i]
			}
			if m != nil && !yield(m) {
				return
			}
		}
	}
}

func toMessages[T proto.Message](l []T) []proto.Message {
	out := make([]proto.Message, len(l))
	for i, m := range l {
		out[i] = m
	}
	return out
}

// sortedRows yields every row of rows sorted by c (or reversed).
func sortedRows(rows iter.Seq[proto.Message], c func(a, b proto.Message) int, descending bool) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		all := slices.Collect(rows)
		slices.SortStableFunc(all, c)
		for m := range rowsOf(descending, all...) {
			if !yield(m) {
				return
			}
		}
	}
}

// archivedSetOf returns the archived buildset whose list holds id, or nil.
func archivedSetOf(txn *memdb.Txn, list setList, id uint64) *messages.ArchivedBuildset {
	s, i := findArchivedSet(txn, list, id)
	if s == nil {
		return nil
	}
	set, _ := setArchive.decode(s, i)
	return set
}

// setKeyCmp orders builds, build requests or buildsets as index does.
func setKeyCmp(table, index string) func(a, b proto.Message) int {
	index = strings.TrimSuffix(index, "_prefix")
	switch {
	case table == TableBuilds && index == IndexBuilderNumber:
		return func(a, b proto.Message) int {
			x, y := a.(*messages.Build), b.(*messages.Build)
			return cmp.Or(cmp.Compare(x.Builderid, y.Builderid), cmp.Compare(x.Number, y.Number))
		}
	case table == TableBuilds && index == IndexBuildRequest:
		return func(a, b proto.Message) int {
			x, y := a.(*messages.Build), b.(*messages.Build)
			return cmp.Or(cmp.Compare(x.Buildrequestid, y.Buildrequestid), cmp.Compare(x.Id, y.Id))
		}
	case table == TableBuildRequests && index == IndexBuildset:
		return func(a, b proto.Message) int {
			x, y := a.(*messages.BuildRequest), b.(*messages.BuildRequest)
			return cmp.Or(cmp.Compare(x.Buildsetid, y.Buildsetid), cmp.Compare(x.Id, y.Id))
		}
	}
	return func(a, b proto.Message) int { return cmp.Compare(rowID(a), rowID(b)) }
}

// rowID is the id of a build, build request or buildset.
func rowID(m proto.Message) uint64 {
	switch r := m.(type) {
	case *messages.Build:
		return r.Id
	case *messages.BuildRequest:
		return r.Id
	case *messages.Buildset:
		return r.Id
	}
	return 0
}

// archivedBuildNumber returns archived build number n of builder, or nil.
// It reads the lists of the builder's segments whose largest number is n
// or more alone, and decodes the buildset of the build alone.
func archivedBuildNumber(txn *memdb.Txn, builder uint64, n int32) proto.Message {
	it, err := txn.LowerBound(TableBuildsetArchive, IndexArchivedBuilders, builder, n)
	if err != nil {
		return nil
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		s := raw.(*messages.BuildsetSegment)
		if builderNewest(s, builder) < n {
			// Past the builder's keys: a segment after them holding
			// number n of builder has a key of the builder before them.
			return nil
		}
		for i, b := range s.BuildBuilders {
			if b == builder && i < len(s.BuildNumbers) && i < len(s.Buildids) && s.BuildNumbers[i] == n {
				if si, ok := entryAt(s.BuildSets, i); ok {
					set, _ := setArchive.decode(s, si)
					return rowIn(set, TableBuilds, s.Buildids[i])
				}
			}
		}
	}
	return nil
}

// builderNewest is the largest number of builder's builds in segment s.
func builderNewest(s *messages.BuildsetSegment, builder uint64) int32 {
	newest := int32(math.MinInt32)
	for i, b := range s.BuildBuilders {
		if b == builder && i < len(s.BuildNumbers) {
			newest = max(newest, s.BuildNumbers[i])
		}
	}
	return newest
}

// BuildsBefore yields builder's builds numbered up to upTo, newest first,
// archived or not; it decodes the archived builds it yields alone.
func BuildsBefore(txn *memdb.Txn, builder uint64, upTo int32) iter.Seq[*messages.Build] {
	rows := func(yield func(proto.Message) bool) {
		it, err := txn.ReverseLowerBound(TableBuilds, IndexBuilderNumber, builder, upTo)
		if err != nil {
			return
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if b := raw.(*messages.Build); b.Builderid != builder || !yield(b) {
				return
			}
		}
	}
	merged := mergeSorted(rows, archivedBuilderBuilds(txn, builder, upTo, true), setKeyCmp(TableBuilds, IndexBuilderNumber), true)
	return func(yield func(*messages.Build) bool) {
		for m := range merged {
			if !yield(m.(*messages.Build)) {
				return
			}
		}
	}
}

// ScanFrom yields the rows of table (builds, buildrequests or buildsets)
// whose id is at least from, in id order, archived or not; it decodes the
// archived rows it yields alone.
func ScanFrom(txn *memdb.Txn, table string, from uint64) iter.Seq[proto.Message] {
	rows := func(yield func(proto.Message) bool) {
		it, err := txn.LowerBound(table, IndexID, from)
		if err != nil {
			return
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if !yield(raw.(proto.Message)) {
				return
			}
		}
	}
	list := setListOf(table)
	archived := func(yield func(proto.Message) bool) {
		for c := range setCursorsFrom(txn, list, from, false) {
			if m := rowIn(c.decode(setArchive, list.entry), table, c.id()); m != nil && !yield(m) {
				return
			}
		}
	}
	return mergeSorted(rows, archived, setKeyCmp(table, IndexID), false)
}

// numbered is one archived build of a builder, by number, not decoded.
type numbered struct {
	number int32
	seg    *messages.BuildsetSegment
	i      int // in seg.Buildids
}

// archivedBuilderBuilds yields builder's archived builds numbered up to
// upTo by number (or reversed), decoding those it yields alone. Newest
// first, it reads the
// builder's segments by their largest number, a segment only once its
// largest number is at least the number about to be yielded.
func archivedBuilderBuilds(txn *memdb.Txn, builder uint64, upTo int32, descending bool) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		get := txn.Get
		if descending {
			get = txn.GetReverse
		}
		it, err := get(TableBuildsetArchive, IndexArchivedBuilders+"_prefix", builder)
		if err != nil {
			return
		}
		h := &numberHeap{desc: descending}
		var next *messages.BuildsetSegment
		pull := func() {
			next = nil
			if raw := it.Next(); raw != nil {
				next = raw.(*messages.BuildsetSegment)
			}
		}
		pull()
		for {
			// Newest first, a segment whose largest number is below the
			// heap's top holds nothing to yield before it; oldest first
			// (keys by largest number say nothing of the smallest) every
			// segment is read.
			for next != nil && (h.Len() == 0 || !descending || builderNewest(next, builder) >= h.items[0].number) {
				for i, b := range next.BuildBuilders {
					if b == builder && i < len(next.BuildNumbers) && i < len(next.Buildids) && next.BuildNumbers[i] <= upTo {
						heap.Push(h, numbered{next.BuildNumbers[i], next, i})
					}
				}
				pull()
			}
			if h.Len() == 0 {
				return
			}
			e := heap.Pop(h).(numbered)
			si, ok := entryAt(e.seg.BuildSets, e.i)
			if !ok {
				continue
			}
			set, _ := setArchive.decode(e.seg, si)
			if m := rowIn(set, TableBuilds, e.seg.Buildids[e.i]); m != nil && !yield(m) {
				return
			}
		}
	}
}

// numberHeap is a heap of a builder's archived builds by number.
type numberHeap struct {
	items []numbered
	desc  bool
}

func (h *numberHeap) Len() int { return len(h.items) }
func (h *numberHeap) Less(i, j int) bool {
	if h.desc {
		return h.items[i].number > h.items[j].number
	}
	return h.items[i].number < h.items[j].number
}
func (h *numberHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *numberHeap) Push(x any)    { h.items = append(h.items, x.(numbered)) }
func (h *numberHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// archivedSetAll yields every archived row of table in id order (or
// reversed): a merge of the segments' lists, each row's buildset decoded
// when the row is yielded.
func archivedSetAll(txn *memdb.Txn, list setList, table string, descending bool) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		for c := range setCursors(txn, list, descending) {
			if m := rowIn(c.decode(setArchive, list.entry), table, c.id()); m != nil && !yield(m) {
				return
			}
		}
	}
}

// archivedRequestsBySet yields every archived build request by (buildsetid,
// id), or reversed.
func archivedRequestsBySet(txn *memdb.Txn, descending bool) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		for c := range setCursors(txn, archivedSets, descending) {
			for m := range rowsOf(descending, toMessages(c.decode(setArchive, archivedSets.entry).GetRequests())...) {
				if !yield(m) {
					return
				}
			}
		}
	}
}

// setCursors yields, in the order of list's ids across every segment (or
// reversed), a cursor at each id.
func setCursors(txn *memdb.Txn, list setList, descending bool) iter.Seq[*setCursor] {
	return setCursorsFrom(txn, list, 0, descending)
}

// setCursorsFrom is setCursors from id from on (ascending; descending,
// from is 0).
func setCursorsFrom(txn *memdb.Txn, list setList, from uint64, descending bool) iter.Seq[*setCursor] {
	return func(yield func(*setCursor) bool) {
		var cs []*setCursor
		for s := range setArchive.segments(txn) {
			ids, lo := list.ids(s), 0
			if !descending && from > 0 {
				lo, _ = slices.BinarySearch(ids, from)
			}
			if c, ok := newCursor[*messages.BuildsetSegment, *messages.ArchivedBuildset](s, ids, lo, len(ids), nil, descending); ok {
				cs = append(cs, c)
			}
		}
		for c := range merged(cs, descending) {
			if !yield(c) {
				return
			}
		}
	}
}

// setCursor is a cursor in a buildset segment's list.
type setCursor = cursor[*messages.BuildsetSegment, *messages.ArchivedBuildset]
