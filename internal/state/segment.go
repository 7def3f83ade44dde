package state

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"
)

// An archive moves finished rows out of their memdb tables into a table
// of its own, whose rows (segments) each hold many entries (an entry: one
// encoded message, e.g. a build's steps and logs), so that they cost
// memory as bytes rather than as records and index entries. Each archive
// (the steps and logs', archive.go; the buildsets', archive_builds.go; the
// changes', archive_changes.go) is an archiveKind: what it shares with the
// others is here (entries: encoding, decoding, checking, writing a segment
// again), in segindex.go (finding a segment by an id) and in segcursor.go
// (merging the segments' lists in id order).

// ErrArchiveCorrupt is wrapped by the error of a read that found an archive
// segment whose lists or data do not agree (a damaged snapshot).
var ErrArchiveCorrupt = errors.New("archive segment corrupt")

// segmentMsg is what every segment message has: an id (its row's), and
// entries encoded one after the other in data, entry i ending at byte
// ends[i].
type segmentMsg interface {
	proto.Message
	GetId() uint64
	GetEnds() []uint32
	GetData() []byte
}

// archiveKind is one archive: its table of segments S, each holding
// entries E. Its functions are set once (stepArchive, setArchive,
// changeArchive) and never changed.
type archiveKind[S segmentMsg, E proto.Message] struct {
	table string
	// name names a segment in errors ("archive segment"), entry an entry
	// ("build").
	name, entry string
	// keys is the list of a segment's entries' ids, in entry order
	// (ascending).
	keys func(S) []uint64
	// newEntry returns an empty entry, to decode into; entryID is the id
	// an entry holds (keys of its segment must list it).
	newEntry func() E
	entryID  func(E) uint64
	// encode returns entries (in id order) as segment id, with every list
	// of the segment; the encoding of a segment never changes (snapshots
	// hold it: TestArchivesSnapshotGolden).
	encode func(id uint64, entries []E) (S, error)
	// lists returns the first disagreement of a segment's lists among
	// themselves (wrapping ErrArchiveCorrupt), or nil; entryAgrees (nil:
	// nothing more to check) that of entry i, decoded, with the lists.
	lists       func(S) error
	entryAgrees func(s S, i int, e E) error
	// rows adds sign times the rows segment s holds to delta (rows by
	// table), for Count.
	rows func(delta map[string]int, s S, sign int)
}

// decode returns entry i of segment s, or an error wrapping
// ErrArchiveCorrupt when s's bytes or lists do not hold it.
func (k *archiveKind[S, E]) decode(s S, i int) (E, error) {
	var zero E
	keys, ends, data := k.keys(s), s.GetEnds(), s.GetData()
	if i < 0 || i >= len(keys) || len(ends) != len(keys) {
		return zero, fmt.Errorf("state: %s %d: %s %d of %d (%d ends): %w", k.name, s.GetId(), k.entry, i, len(keys), len(ends), ErrArchiveCorrupt)
	}
	start := uint32(0)
	if i > 0 {
		start = ends[i-1]
	}
	end := ends[i]
	if start > end || int(end) > len(data) {
		return zero, fmt.Errorf("state: %s %d: %s %d at bytes %d…%d of %d: %w", k.name, s.GetId(), k.entry, keys[i], start, end, len(data), ErrArchiveCorrupt)
	}
	e := k.newEntry()
	if err := proto.Unmarshal(data[start:end], e); err != nil {
		return zero, fmt.Errorf("state: %s %d: %s %d: %w: %w", k.name, s.GetId(), k.entry, keys[i], ErrArchiveCorrupt, err)
	}
	if id := k.entryID(e); id != keys[i] {
		return zero, fmt.Errorf("state: %s %d: %s %d holds %s %d: %w", k.name, s.GetId(), k.entry, keys[i], k.entry, id, ErrArchiveCorrupt)
	}
	return e, nil
}

// appendEntry appends e, entry id (named entry in errors), encoded
// deterministically, to a segment's data, and where it ends to its ends.
func appendEntry(data []byte, ends []uint32, e proto.Message, entry string, id uint64) ([]byte, []uint32, error) {
	data, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(data, e)
	if err != nil {
		return nil, nil, fmt.Errorf("state: archive %s %d: %w", entry, id, err)
	}
	return data, append(ends, uint32(len(data))), nil
}

// check returns the first damage of segment s (wrapping
// ErrArchiveCorrupt), or nil: its lists disagree, or an entry does not
// decode or disagrees with them.
func (k *archiveKind[S, E]) check(s S) error {
	if err := k.lists(s); err != nil {
		return err
	}
	for i := range k.keys(s) {
		e, err := k.decode(s, i)
		if err != nil {
			return err
		}
		if k.entryAgrees == nil {
			continue
		}
		if err := k.entryAgrees(s, i, e); err != nil {
			return err
		}
	}
	return nil
}

// segments yields every segment of the archive, in id order.
func (k *archiveKind[S, E]) segments(txn *memdb.Txn) iter.Seq[S] {
	return func(yield func(S) bool) {
		for raw := range scanTable(txn, k.table, IndexID+"_prefix", false) {
			if !yield(raw.(S)) {
				return
			}
		}
	}
}

// add inserts entries (in id order) as a new segment, under the archive's
// next id, and returns it.
func (k *archiveKind[S, E]) add(txn *memdb.Txn, seq *ids, entries []E) (S, error) {
	var zero S
	id, err := seq.nextID(txn, k.table)
	if err != nil {
		return zero, err
	}
	s, err := k.encode(id, entries)
	if err != nil {
		return zero, err
	}
	return s, txn.Insert(k.table, s)
}

// edit writes again each of segs (by id), in id order, without the
// entries it drops: entry i of segment s is dropped when drop (nil: none)
// says so, else decoded and given to keep (with the error of one that
// does not decode), which says whether to keep it; an error of keep stops
// the edit. A segment left empty is removed (see rewrite).
func (k *archiveKind[S, E]) edit(txn *memdb.Txn, segs map[uint64]S, drop func(s S, i int) bool, keep func(s S, i int, e E, err error) (bool, error)) error {
	for _, sid := range slices.Sorted(maps.Keys(segs)) {
		s := segs[sid]
		var kept []E
		for i := range k.keys(s) {
			if drop != nil && drop(s, i) {
				continue
			}
			e, err := k.decode(s, i)
			ok, err := keep(s, i, e, err)
			if err != nil {
				return err
			}
			if ok {
				kept = append(kept, e)
			}
		}
		if err := k.rewrite(txn, s, kept); err != nil {
			return err
		}
	}
	return nil
}

// rewrite writes segment s again holding kept alone (in id order), under
// its id; with none kept it removes s, raising the archive's id floor
// first: a segment removed must not give its id to the next one (the ids
// a raft batch hands out would differ from those of its commands one by
// one).
func (k *archiveKind[S, E]) rewrite(txn *memdb.Txn, s S, kept []E) error {
	if len(kept) == 0 {
		if err := raiseIDFloor(txn, k.table); err != nil {
			return err
		}
		return txn.Delete(k.table, s)
	}
	ns, err := k.encode(s.GetId(), kept)
	if err != nil {
		return err
	}
	return txn.Insert(k.table, ns)
}
