package state

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// The change archive (changeArchive, an archiveKind: segment.go) holds
// changes moved out of the changes table by ArchiveChanges (the janitor
// moves all but the newest): a segment (a row, a ChangeSegment) holds many
// changes as encoded bytes, so that a change costs its bytes rather than a
// record and three index entries. Reads (Lookup, First, Scan, ScanIndex,
// Count in read.go) show archived changes as if they were still in the
// table (archive_changes_read.go). A segment never changes but by Expire,
// which writes it again without the changes that go.
//
// A segment is found by the changes' ids (the ranges of archiveRange ids
// its changeids fall in: a sparse idIndex), by their sourcestamps (the
// same, of its sourcestampids) and by their branches (each branch of the
// segment once): three index entries or a few per segment, not per change.

// TableChangeArchive is the table of archived changes (ChangeSegment rows).
const TableChangeArchive = "change_archive"

// Index names of the change archive.
const (
	IndexArchivedChanges      = "changes"
	IndexArchivedSourceStamps = "sourcestamps"
	IndexArchivedBranches     = "branches"
)

// changeArchive is the change archive: segments of Change entries, by
// changeid.
var changeArchive = &archiveKind[*messages.ChangeSegment, *messages.Change]{
	table: TableChangeArchive, name: "change segment", entry: "change",
	keys:        (*messages.ChangeSegment).GetChangeids,
	newEntry:    func() *messages.Change { return &messages.Change{} },
	entryID:     (*messages.Change).GetChangeid,
	encode:      newChangeSegment,
	lists:       changeSegmentLists,
	entryAgrees: changeAgrees,
	rows: func(delta map[string]int, s *messages.ChangeSegment, sign int) {
		delta[TableChanges] += sign * len(s.Changeids)
	},
}

// branchIndex is a memdb index of change segments by the branches of their
// changes (each once); it is looked up by a branch.
type branchIndex struct{}

// FromObject returns a segment's branches (memdb.MultiIndexer).
func (branchIndex) FromObject(raw any) (bool, [][]byte, error) {
	s := raw.(*messages.ChangeSegment)
	keys := make([][]byte, 0, len(s.Branches))
	for _, b := range s.Branches {
		k, err := encodeKey(keyDigits, b)
		if err != nil {
			return false, nil, err
		}
		keys = append(keys, k)
	}
	return len(keys) > 0, keys, nil
}

// FromArgs returns the key of a branch (memdb.Indexer).
func (branchIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("state: change archive lookup takes one branch, not %d values", len(args))
	}
	b, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("state: change archive lookup by a %T, not a branch", args[0])
	}
	return encodeKey(0, b)
}

// changeArchiveSchema is the change archive's schema.
func changeArchiveSchema() *memdb.TableSchema {
	return table(TableChangeArchive, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.ChangeSegment).Id)) },
		idIndexSchema(IndexArchivedChanges, (*messages.ChangeSegment).GetChangeids, true),
		idIndexSchema(IndexArchivedSourceStamps, (*messages.ChangeSegment).GetSourcestampids, true),
		&memdb.IndexSchema{Name: IndexArchivedBranches, AllowMissing: true, Indexer: branchIndex{}})
}

// changeSegmentLists returns the first disagreement of change segment
// s's lists, or nil.
func changeSegmentLists(s *messages.ChangeSegment) error {
	if len(s.Sourcestampids) != len(s.Changeids) || len(s.ChangeBranches) != len(s.Changeids) {
		return fmt.Errorf("state: change segment %d: %d changes with %d sourcestamps and %d branches: %w",
			s.Id, len(s.Changeids), len(s.Sourcestampids), len(s.ChangeBranches), ErrArchiveCorrupt)
	}
	if segmentLined(s) && len(s.ChangeLines) != len(s.Changeids) {
		return fmt.Errorf("state: change segment %d: %d changes with %d lines: %w", s.Id, len(s.Changeids), len(s.ChangeLines), ErrArchiveCorrupt)
	}
	if !slices.IsSorted(s.Changeids) {
		return fmt.Errorf("state: change segment %d: changeids out of order: %w", s.Id, ErrArchiveCorrupt)
	}
	return nil
}

// segmentLined reports whether segment s lists its changes' lines
// (segments written before lines have neither lines nor change_lines).
func segmentLined(s *messages.ChangeSegment) bool { return len(s.Lines) > 0 || len(s.ChangeLines) > 0 }

// changeAgrees returns an error when change i of segment s (c, decoded)
// is not of the branch, sourcestamp and line its lists say, or nil.
func changeAgrees(s *messages.ChangeSegment, i int, c *messages.Change) error {
	b := s.ChangeBranches[i]
	if int(b) >= len(s.Branches) || s.Branches[b] != c.Branch || s.Sourcestampids[i] != c.Sourcestampid {
		return fmt.Errorf("state: change segment %d: change %d's branch or sourcestamp disagrees with its lists: %w", s.Id, c.Changeid, ErrArchiveCorrupt)
	}
	if segmentLined(s) && !segmentLineIs(s, i, lineOf(c)) {
		return fmt.Errorf("state: change segment %d: change %d's line disagrees with its lists: %w", s.Id, c.Changeid, ErrArchiveCorrupt)
	}
	return nil
}

// changeLine is what a change shares with its parent besides its branch.
type changeLine struct{ repository, project, codebase string }

func lineOf(c *messages.Change) changeLine { return changeLine{c.Repository, c.Project, c.Codebase} }

func (l changeLine) compare(o changeLine) int {
	return cmp.Or(strings.Compare(l.repository, o.repository), strings.Compare(l.project, o.project), strings.Compare(l.codebase, o.codebase))
}

// newChangeSegment encodes changes, in changeid order, as segment id.
func newChangeSegment(id uint64, changes []*messages.Change) (*messages.ChangeSegment, error) {
	s := &messages.ChangeSegment{Id: id}
	changes = slices.SortedFunc(slices.Values(changes), func(a, b *messages.Change) int {
		return cmp.Compare(a.Changeid, b.Changeid)
	})
	branches := map[string]bool{}
	for _, c := range changes {
		branches[c.Branch] = true
	}
	s.Branches = slices.Sorted(maps.Keys(branches))
	lines := map[changeLine]bool{}
	for _, c := range changes {
		lines[lineOf(c)] = true
	}
	sorted := slices.SortedFunc(maps.Keys(lines), changeLine.compare)
	for _, l := range sorted {
		s.Lines = append(s.Lines, &messages.ChangeLine{Repository: l.repository, Project: l.project, Codebase: l.codebase})
	}
	for _, c := range changes {
		var err error
		if s.Data, s.Ends, err = appendEntry(s.Data, s.Ends, c, "change", c.Changeid); err != nil {
			return nil, err
		}
		b, _ := slices.BinarySearch(s.Branches, c.Branch)
		l, _ := slices.BinarySearchFunc(sorted, lineOf(c), changeLine.compare)
		s.Changeids = append(s.Changeids, c.Changeid)
		s.Sourcestampids = append(s.Sourcestampids, c.Sourcestampid)
		s.ChangeBranches = append(s.ChangeBranches, uint32(b))
		s.ChangeLines = append(s.ChangeLines, uint32(l))
	}
	s.Data = slices.Clip(s.Data)
	return s, nil
}

// applyArchiveChanges moves changes changeids out of the changes table into
// a new change segment (ArchiveChanges). Its result's id is the segment's
// (0 when none of the changes was in the table), its ids the changes moved.
func applyArchiveChanges(txn *memdb.Txn, seq *ids, c *messages.ArchiveChanges) (*messages.CommandResult, error) {
	if err := checkIDs("archive_changes", "changeids", c.GetChangeids()); err != nil {
		return nil, err
	}
	var changes []*messages.Change
	for _, id := range c.GetChangeids() {
		ch, err := get[*messages.Change](txn, TableChanges, IndexID, id)
		if err != nil {
			return nil, err
		}
		if ch != nil && !slices.ContainsFunc(changes, func(x *messages.Change) bool { return x == ch }) {
			changes = append(changes, ch)
		}
	}
	if len(changes) == 0 {
		return &messages.CommandResult{}, nil
	}
	// The newest change may go: its id stays the floor of the next.
	if err := raiseIDFloor(txn, TableChanges); err != nil {
		return nil, err
	}
	for _, ch := range changes {
		if err := txn.Delete(TableChanges, ch); err != nil {
			return nil, err
		}
	}
	seg, err := changeArchive.add(txn, seq, changes)
	if err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: seg.Id, Ids: slices.Clone(seg.Changeids)}, nil
}

// expireArchivedChanges removes the archived changes among ids, writing
// their segments again without them (removing a segment left empty). A
// damaged change of those segments, which reads skip already, is dropped
// with them, so that one damaged segment does not fail every Expire.
func expireArchivedChanges(txn *memdb.Txn, ids []uint64) error {
	gone := map[uint64]bool{}
	segs := map[uint64]*messages.ChangeSegment{}
	for _, id := range ids {
		if s, _ := findArchivedChange(txn, id); s != nil {
			gone[id] = true
			segs[s.Id] = s
		}
	}
	return changeArchive.edit(txn, segs, func(s *messages.ChangeSegment, i int) bool { return gone[s.Changeids[i]] },
		func(_ *messages.ChangeSegment, _ int, _ *messages.Change, err error) (bool, error) {
			return err == nil, nil
		})
}

// ChangesToArchive returns the changes to archive, oldest first: those of
// the changes table older than before (when_timestamp, epoch seconds) but
// the newest keep. It stops at the first change too recent, so that the
// archive always holds the oldest changes and the table the newest.
func ChangesToArchive(txn *memdb.Txn, before int64, keep int) []uint64 {
	n := countTable(txn, TableChanges) - keep
	var out []uint64
	for raw := range scanTable(txn, TableChanges, IndexID+"_prefix", false) {
		c := raw.(*messages.Change)
		if len(out) >= n || c.WhenTimestamp >= before {
			break
		}
		out = append(out, c.Changeid)
	}
	return out
}

// countTable is the number of rows of the memdb table alone: Count less
// the archived changes.
func countTable(txn *memdb.Txn, table string) int {
	n := Count(txn, table)
	if table != TableChanges {
		return n
	}
	for s := range changeArchive.segments(txn) {
		n -= len(s.Changeids)
	}
	return n
}
