package state

import (
	"fmt"
	"slices"

	"github.com/hashicorp/go-memdb"
)

// A segment is found by the ids of one of its lists (a build's, a step's,
// a change's …): an index of the archive's table lists each segment under
// the ranges of archiveRange ids that list covers (idIndex), a lookup
// reads the segments of an id's range and searches each list by binary
// search (segList.find). Segments overlap little (the janitor archives
// oldest first), so a lookup reads one or two.

// archiveRange is the width, in ids, of the ranges by which the archives'
// indexes find segments.
const archiveRange = 4096

// maxArchiveRanges bounds the ranges one list of a segment spans (a
// quarter of a billion ids); a segment spanning more is refused.
const maxArchiveRanges = 1 << 16

// idIndex is a memdb index of segments S by the ranges of archiveRange ids
// one of their lists covers: spanned, first id to last, for a list in id
// order; with sparse, only the ranges its ids fall in (each once), for a
// list in another order (a change segment's sourcestamps). It is looked up
// by an id (uint64).
type idIndex[S segmentMsg] struct {
	ids    func(S) []uint64
	sparse bool
}

// FromObject returns a segment's ranges (memdb.MultiIndexer).
func (x idIndex[S]) FromObject(raw any) (bool, [][]byte, error) {
	s := raw.(S)
	if x.sparse {
		return rangeKeys(x.ids(s))
	}
	return spanKeys(s.GetId(), x.ids(s))
}

// FromArgs returns the key of the range of an id (memdb.Indexer).
func (x idIndex[S]) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("state: archive index lookup takes one id, not %d values", len(args))
	}
	id, ok := args[0].(uint64)
	if !ok {
		return nil, fmt.Errorf("state: archive index lookup by a %T, not an id", args[0])
	}
	return encodeKey(0, id/archiveRange)
}

// idIndexSchema is the schema of index name, an idIndex of ids.
func idIndexSchema[S segmentMsg](name string, ids func(S) []uint64, sparse bool) *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: name, AllowMissing: true, Indexer: idIndex[S]{ids: ids, sparse: sparse}}
}

// spanKeys returns the keys of the ranges of archiveRange ids that ids
// (ascending) span, first to last, for segment seg.
func spanKeys(seg uint64, ids []uint64) (bool, [][]byte, error) {
	if len(ids) == 0 {
		return false, nil, nil
	}
	first, last := ids[0]/archiveRange, ids[len(ids)-1]/archiveRange
	if last < first || last-first >= maxArchiveRanges {
		return false, nil, fmt.Errorf("state: archive segment %d: ids %d…%d: %w", seg, ids[0], ids[len(ids)-1], ErrArchiveCorrupt)
	}
	keys := make([][]byte, 0, last-first+1)
	for r := first; r <= last; r++ {
		k, err := encodeKey(keyDigits, r) // room for go-memdb's id suffix (non-unique)
		if err != nil {
			return false, nil, err
		}
		keys = append(keys, k)
	}
	return true, keys, nil
}

// rangeKeys returns the keys of the ranges of archiveRange ids that ids
// (in any order) fall in, each once.
func rangeKeys(ids []uint64) (bool, [][]byte, error) {
	ranges := make([]uint64, len(ids))
	for i, id := range ids {
		ranges[i] = id / archiveRange
	}
	slices.Sort(ranges)
	ranges = slices.Compact(ranges)
	keys := make([][]byte, 0, len(ranges))
	for _, r := range ranges {
		k, err := encodeKey(keyDigits, r) // room for go-memdb's id suffix (non-unique)
		if err != nil {
			return false, nil, err
		}
		keys = append(keys, k)
	}
	return len(keys) > 0, keys, nil
}

// segList is one list of ids of segments S (a steps segment's stepids …),
// in id order, with the idIndex index that finds its segments.
type segList[S segmentMsg] struct {
	index string
	ids   func(S) []uint64
	// entry is the index (in the segment's keys) of the entry holding the
	// row of the list's item i; false when the segment's lists disagree.
	entry func(s S, i int) (int, bool)
}

// find returns the segment of table holding id in the list, with the
// index of the entry holding it; false when no segment does (or the one
// listing it is damaged).
func (l segList[S]) find(txn *memdb.Txn, table string, id uint64) (S, int, bool) {
	var zero S
	it, err := txn.Get(table, l.index, id)
	if err != nil {
		return zero, 0, false
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		s := raw.(S)
		if i, ok := slices.BinarySearch(l.ids(s), id); ok {
			e, ok := l.entry(s, i)
			return s, e, ok
		}
	}
	return zero, 0, false
}

// entryItself is segList.entry of the list of a segment's entries' own
// ids: item i is entry i.
func entryItself[S segmentMsg](_ S, i int) (int, bool) { return i, true }

// entryAt is segList.entry of a list whose entries are listed in l (a
// steps segment's step_builds …).
func entryAt(l []uint32, i int) (int, bool) {
	if i < 0 || i >= len(l) {
		return 0, false
	}
	return int(l[i]), true
}
