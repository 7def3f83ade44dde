package state

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// The buildset archive (setArchive, an archiveKind: segment.go) holds
// finished buildsets, each with its build requests and their builds, moved
// out of the buildsets, buildrequests and builds tables by
// ArchiveBuildsets: a buildset with its requests and builds is one encoded
// ArchivedBuildset, and a segment (a row) holds many, so that they cost
// memory as bytes rather than as records and index entries. Reads (First,
// Lookup, Scan, ScanIndex, Count in read.go) show them as if they were
// still in their tables (archive_builds_read.go).
//
// A segment is found by the ranges of ids its buildsets, requests and
// builds span (idIndex, as the steps' archive), and by builder: a key
// (builderid, largest number) per builder with builds in it, so that a
// builder's newest archived builds are found newest first without
// decoding other builders'. A segment never changes but by unarchiveSets
// (Expire, SetBuildProperties), which moves buildsets back to the tables.

// TableBuildsetArchive is the buildset archive's table.
const TableBuildsetArchive = "buildset_archive"

// Index names of the buildset archive.
const (
	IndexArchivedSets      = "buildsets"
	IndexArchivedRequests  = "requests"
	IndexArchivedSetBuilds = "builds"
	// IndexArchivedBuilders lists segments by (builderid, largest number
	// of the builder's builds in the segment).
	IndexArchivedBuilders = "builders"
)

// builderIndex indexes a buildset segment by (builderid, largest number)
// for each builder with builds in it.
type builderIndex struct{}

// FromObject returns a segment's keys, one per builder (memdb.MultiIndexer).
func (builderIndex) FromObject(raw any) (bool, [][]byte, error) {
	s := raw.(*messages.BuildsetSegment)
	newest := segmentBuilders(s)
	if len(newest) == 0 {
		return false, nil, nil
	}
	keys := make([][]byte, 0, len(newest))
	for _, b := range slices.Sorted(maps.Keys(newest)) {
		k, err := encodeKey(keyDigits, b, newest[b])
		if err != nil {
			return false, nil, err
		}
		keys = append(keys, k)
	}
	return true, keys, nil
}

// FromArgs returns the key of (builderid, number) (memdb.Indexer).
func (builderIndex) FromArgs(args ...any) ([]byte, error) { return builderArgs(args) }

// PrefixFromArgs returns the key prefix of builderid (memdb.PrefixIndexer).
func (builderIndex) PrefixFromArgs(args ...any) ([]byte, error) { return builderArgs(args) }

func builderArgs(args []any) ([]byte, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("state: archived builders lookup takes builderid[, number], not %d values", len(args))
	}
	if _, ok := args[0].(uint64); !ok {
		return nil, fmt.Errorf("state: archived builders lookup by a %T, not a builderid", args[0])
	}
	return encodeKey(0, args...)
}

// segmentBuilders returns the largest build number of each builder with
// builds in segment s.
func segmentBuilders(s *messages.BuildsetSegment) map[uint64]int32 {
	newest := map[uint64]int32{}
	for i, b := range s.BuildBuilders {
		if i >= len(s.BuildNumbers) {
			break
		}
		if n, ok := newest[b]; !ok || s.BuildNumbers[i] > n {
			newest[b] = s.BuildNumbers[i]
		}
	}
	return newest
}

// buildsetArchiveSchema is the buildset archive's schema.
func buildsetArchiveSchema() *memdb.TableSchema {
	return table(TableBuildsetArchive, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.BuildsetSegment).Id)) },
		idIndexSchema(IndexArchivedSets, (*messages.BuildsetSegment).GetBuildsetids, false),
		idIndexSchema(IndexArchivedRequests, (*messages.BuildsetSegment).GetRequestids, false),
		idIndexSchema(IndexArchivedSetBuilds, (*messages.BuildsetSegment).GetBuildids, false),
		&memdb.IndexSchema{Name: IndexArchivedBuilders, AllowMissing: true, Indexer: builderIndex{}})
}

// setArchive is the buildset archive: segments of ArchivedBuildset
// entries, by buildset id.
var setArchive = &archiveKind[*messages.BuildsetSegment, *messages.ArchivedBuildset]{
	table: TableBuildsetArchive, name: "buildset segment", entry: "buildset",
	keys:        (*messages.BuildsetSegment).GetBuildsetids,
	newEntry:    func() *messages.ArchivedBuildset { return &messages.ArchivedBuildset{} },
	entryID:     func(b *messages.ArchivedBuildset) uint64 { return b.GetBuildset().GetId() },
	encode:      newSetSegment,
	lists:       setSegmentLists,
	entryAgrees: setAgrees,
	rows: func(delta map[string]int, s *messages.BuildsetSegment, sign int) {
		delta[TableBuilds] += sign * len(s.Buildids)
		delta[TableBuildRequests] += sign * len(s.Requestids)
		delta[TableBuildsets] += sign * len(s.Buildsetids)
	},
}

// setList is one of a buildset segment's id lists: its buildsets,
// requests or builds.
type setList = segList[*messages.BuildsetSegment]

var (
	archivedSets = setList{IndexArchivedSets, (*messages.BuildsetSegment).GetBuildsetids,
		entryItself[*messages.BuildsetSegment]}
	archivedRequests = setList{IndexArchivedRequests, (*messages.BuildsetSegment).GetRequestids,
		func(s *messages.BuildsetSegment, i int) (int, bool) { return entryAt(s.RequestSets, i) }}
	archivedSetBuilds = setList{IndexArchivedSetBuilds, (*messages.BuildsetSegment).GetBuildids,
		func(s *messages.BuildsetSegment, i int) (int, bool) { return entryAt(s.BuildSets, i) }}
)

// setListOf is the segments' list of the rows of table (builds,
// buildrequests or buildsets).
func setListOf(table string) setList {
	switch table {
	case TableBuilds:
		return archivedSetBuilds
	case TableBuildRequests:
		return archivedRequests
	}
	return archivedSets
}

// findArchivedSet returns the segment holding id in list, with the index
// in buildsetids of its buildset; nil when no segment does.
func findArchivedSet(txn *memdb.Txn, list setList, id uint64) (*messages.BuildsetSegment, int) {
	if s, i, ok := list.find(txn, TableBuildsetArchive, id); ok {
		return s, i
	}
	return nil, 0
}

// rowIn returns row id of table in archived buildset b (nil or damaged),
// or nil (not a typed nil).
func rowIn(b *messages.ArchivedBuildset, table string, id uint64) proto.Message {
	switch table {
	case TableBuilds:
		for _, x := range b.GetBuilds() {
			if x.Id == id {
				return x
			}
		}
	case TableBuildRequests:
		for _, x := range b.GetRequests() {
			if x.Id == id {
				return x
			}
		}
	default:
		if bs := b.GetBuildset(); bs != nil && bs.Id == id {
			return bs
		}
	}
	return nil
}

// archivedSetRow returns archived row id of table (builds, buildrequests
// or buildsets), or nil.
func archivedSetRow(txn *memdb.Txn, table string, id uint64) proto.Message {
	s, i := findArchivedSet(txn, setListOf(table), id)
	if s == nil {
		return nil
	}
	b, _ := setArchive.decode(s, i)
	return rowIn(b, table, id)
}

// newSetSegment encodes sets, in buildset id order, as segment id.
func newSetSegment(id uint64, sets []*messages.ArchivedBuildset) (*messages.BuildsetSegment, error) {
	s := &messages.BuildsetSegment{Id: id}
	type entry struct {
		id      uint64
		set     uint32
		builder uint64
		number  int32
	}
	var reqs, builds []entry
	for i, b := range sets {
		var err error
		if s.Data, s.Ends, err = appendEntry(s.Data, s.Ends, b, "buildset", b.Buildset.Id); err != nil {
			return nil, err
		}
		s.Buildsetids = append(s.Buildsetids, b.Buildset.Id)
		for _, r := range b.Requests {
			reqs = append(reqs, entry{id: r.Id, set: uint32(i)})
		}
		for _, bd := range b.Builds {
			builds = append(builds, entry{bd.Id, uint32(i), bd.Builderid, bd.Number})
		}
	}
	byID := func(a, b entry) int { return cmp.Compare(a.id, b.id) }
	slices.SortFunc(reqs, byID)
	slices.SortFunc(builds, byID)
	for _, e := range reqs {
		s.Requestids, s.RequestSets = append(s.Requestids, e.id), append(s.RequestSets, e.set)
	}
	for _, e := range builds {
		s.Buildids, s.BuildSets = append(s.Buildids, e.id), append(s.BuildSets, e.set)
		s.BuildBuilders, s.BuildNumbers = append(s.BuildBuilders, e.builder), append(s.BuildNumbers, e.number)
	}
	s.Data = slices.Clip(s.Data)
	return s, nil
}

// applyArchiveBuildsets moves finished buildsets, with their requests and
// builds, into a new buildset segment (ArchiveBuildsets). Its result's id
// is the segment's (0 when none was moved), its ids the buildsets moved.
func applyArchiveBuildsets(txn *memdb.Txn, seq *ids, c *messages.ArchiveBuildsets) (*messages.CommandResult, error) {
	const kind = "archive_buildsets"
	if err := checkIDs(kind, "buildsetids", c.GetBuildsetids()); err != nil {
		return nil, err
	}
	setids := slices.Clone(c.GetBuildsetids())
	slices.Sort(setids)
	setids = slices.Compact(setids)
	var sets []*messages.ArchivedBuildset
	for _, id := range setids {
		set, err := archivableSet(txn, kind, id)
		if err != nil {
			return nil, err
		}
		if set != nil {
			sets = append(sets, set)
		}
	}
	if len(sets) == 0 {
		return &messages.CommandResult{}, nil
	}
	for _, t := range []string{TableBuilds, TableBuildRequests, TableBuildsets} {
		if err := raiseIDFloor(txn, t); err != nil {
			return nil, err
		}
	}
	res := &messages.CommandResult{}
	for _, set := range sets {
		for _, b := range set.Builds {
			if err := txn.Delete(TableBuilds, b); err != nil {
				return nil, err
			}
		}
		for _, r := range set.Requests {
			if err := txn.Delete(TableBuildRequests, r); err != nil {
				return nil, err
			}
		}
		if err := txn.Delete(TableBuildsets, set.Buildset); err != nil {
			return nil, err
		}
		res.Ids = append(res.Ids, set.Buildset.Id)
	}
	seg, err := setArchive.add(txn, seq, sets)
	if err != nil {
		return nil, err
	}
	res.Id = seg.Id
	return res, nil
}

// archivableSet returns buildset id with its requests and builds, from
// the tables, refusing one that may not be archived (see
// ArchiveBuildsets); nil when it is not in the table.
func archivableSet(txn *memdb.Txn, kind string, id uint64) (*messages.ArchivedBuildset, error) {
	bs, err := get[*messages.Buildset](txn, TableBuildsets, IndexID, id)
	switch {
	case err != nil:
		return nil, err
	case bs == nil:
		return nil, nil
	case !bs.Complete:
		return nil, bad(kind, "buildset %d is not complete", id)
	}
	reqs, err := collect[*messages.BuildRequest](txn.Get(TableBuildRequests, IndexBuildset, id))
	if err != nil {
		return nil, err
	}
	set := &messages.ArchivedBuildset{Buildset: bs, Requests: reqs}
	for _, r := range reqs {
		if !r.Complete {
			return nil, bad(kind, "buildset %d: build request %d is not complete", id, r.Id)
		}
		builds, err := collect[*messages.Build](txn.Get(TableBuilds, IndexBuildRequest, r.Id))
		if err != nil {
			return nil, err
		}
		for _, b := range builds {
			if !b.HasResults() {
				return nil, bad(kind, "buildset %d: build %d is not finished", id, b.Id)
			}
			if last, err := txn.Last(TableBuilds, IndexBuilderNumber+"_prefix", b.Builderid); err != nil || last == b {
				if err != nil {
					return nil, err
				}
				return nil, bad(kind, "buildset %d: build %d is the newest of builder %d", id, b.Id, b.Builderid)
			}
		}
		set.Builds = append(set.Builds, builds...)
	}
	slices.SortFunc(set.Builds, func(a, b *messages.Build) int { return cmp.Compare(a.Id, b.Id) })
	return set, nil
}

// unarchiveSets moves the archived buildsets holding any of the builds,
// requests and buildsets named (by id) back to their tables, whole, so that
// a command may change or remove those rows as any others; ids not
// archived are left alone. A segment left without buildsets is removed
// (the archive's id floor raised first). A damaged buildset of those
// segments, which reads skip already, is dropped (neither moved nor kept),
// so that one damaged segment does not fail every Expire.
func unarchiveSets(txn *memdb.Txn, builds, requests, buildsets []uint64) error {
	moved := map[uint64]map[int]bool{} // by segment id, the buildsets (indexes) to move
	segs := map[uint64]*messages.BuildsetSegment{}
	for _, l := range []struct {
		list setList
		ids  []uint64
	}{{archivedSetBuilds, builds}, {archivedRequests, requests}, {archivedSets, buildsets}} {
		for _, id := range l.ids {
			s, i := findArchivedSet(txn, l.list, id)
			if s == nil {
				continue
			}
			if moved[s.Id] == nil {
				moved[s.Id], segs[s.Id] = map[int]bool{}, s
			}
			moved[s.Id][i] = true
		}
	}
	return setArchive.edit(txn, segs, nil, func(s *messages.BuildsetSegment, i int, set *messages.ArchivedBuildset, err error) (bool, error) {
		switch {
		case err != nil:
			return false, nil // damaged: reads skip it already, and it is dropped
		case !moved[s.Id][i]:
			return true, nil
		}
		return false, insertSet(txn, set)
	})
}

// insertSet inserts an archived buildset's rows in their tables.
func insertSet(txn *memdb.Txn, set *messages.ArchivedBuildset) error {
	if err := txn.Insert(TableBuildsets, set.Buildset); err != nil {
		return err
	}
	for _, r := range set.Requests {
		if err := txn.Insert(TableBuildRequests, r); err != nil {
			return err
		}
	}
	for _, b := range set.Builds {
		if err := txn.Insert(TableBuilds, b); err != nil {
			return err
		}
	}
	return nil
}

// setSegmentLists returns the first disagreement of buildset segment s's
// lists, or nil.
func setSegmentLists(s *messages.BuildsetSegment) error {
	if len(s.RequestSets) != len(s.Requestids) || len(s.BuildSets) != len(s.Buildids) ||
		len(s.BuildBuilders) != len(s.Buildids) || len(s.BuildNumbers) != len(s.Buildids) {
		return fmt.Errorf("state: buildset segment %d: lists of unequal lengths: %w", s.Id, ErrArchiveCorrupt)
	}
	for _, l := range [][]uint32{s.RequestSets, s.BuildSets} {
		for _, b := range l {
			if int(b) >= len(s.Buildsetids) {
				return fmt.Errorf("state: buildset segment %d: a request or build of buildset %d of %d: %w", s.Id, b, len(s.Buildsetids), ErrArchiveCorrupt)
			}
		}
	}
	return nil
}

// setAgrees returns an error when a build of segment s's buildset i (set,
// decoded) is not the one its lists say, or nil.
func setAgrees(s *messages.BuildsetSegment, i int, set *messages.ArchivedBuildset) error {
	for j, id := range s.Buildids {
		if int(s.BuildSets[j]) != i {
			continue
		}
		b, _ := rowIn(set, TableBuilds, id).(*messages.Build)
		if b == nil || b.Builderid != s.BuildBuilders[j] || b.Number != s.BuildNumbers[j] {
			return fmt.Errorf("state: buildset segment %d: build %d not as listed: %w", s.Id, id, ErrArchiveCorrupt)
		}
	}
	return nil
}

// ToArchiveBuildsets returns the buildsets to archive, in id order: those
// complete, whose builds all finished before before (epoch seconds), none
// of them its builder's newest. It reads the tables alone.
func ToArchiveBuildsets(txn *memdb.Txn, before int64) []uint64 {
	var out []uint64
	for raw := range scanTable(txn, TableBuildsets, IndexID, false) {
		bs := raw.(*messages.Buildset)
		if !bs.Complete || bs.CompleteAt >= before {
			continue
		}
		if set, err := archivableSet(txn, "", bs.Id); err == nil && set != nil && finishedBefore(set, before) {
			out = append(out, bs.Id)
		}
	}
	return out
}

// finishedBefore reports whether every build of set finished before
// before.
func finishedBefore(set *messages.ArchivedBuildset, before int64) bool {
	for _, b := range set.Builds {
		if b.CompleteAt >= before {
			return false
		}
	}
	return true
}
