package state

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// The archive table (stepArchive, an archiveKind: segment.go) holds the
// steps and logs of finished builds, moved out of the steps and logs tables
// by Archive: a build's steps and logs are one encoded ArchivedBuild, and a
// segment (a row) holds many builds, so that they cost memory as bytes
// rather than as records and index entries:
// about 200 bytes a build of three steps and two logs, against about
// 2,400 in the tables (BenchmarkHeapArchived: 100,000 changes and builds
// take 511 MiB of heap, 296 MiB with the builds archived). Reads (Lookup, First, Scan,
// ScanIndex, Count in read.go) show archived steps and logs as if they were
// still in their tables; archivedStep and the other functions here find
// them. A segment never changes but by Expire (a build or a log's contents
// going) and SetLogLines (lines found lost), which write it again.
//
// A segment is found by the ranges of ids each of its lists spans, first
// to last (the indexes builds, steps, logs: idIndex, segindex.go).

// Index names of the archive table.
const (
	IndexArchivedBuilds = "builds"
	IndexArchivedSteps  = "steps"
	IndexArchivedLogs   = "logs"
)

// stepArchive is the steps and logs' archive: segments of ArchivedBuild
// entries, by buildid.
var stepArchive = &archiveKind[*messages.ArchiveSegment, *messages.ArchivedBuild]{
	table: TableArchive, name: "archive segment", entry: "build",
	keys:     (*messages.ArchiveSegment).GetBuildids,
	newEntry: func() *messages.ArchivedBuild { return &messages.ArchivedBuild{} },
	entryID:  (*messages.ArchivedBuild).GetBuildid,
	encode:   newSegment,
	lists:    stepSegmentLists,
	rows: func(delta map[string]int, s *messages.ArchiveSegment, sign int) {
		delta[TableSteps] += sign * len(s.Stepids)
		delta[TableLogs] += sign * len(s.Logids)
	},
}

// archiveSchema is the archive table's schema.
func archiveSchema() *memdb.TableSchema {
	return table(TableArchive, func(o any) (keyVals, bool) { return always(key().uint(o.(*messages.ArchiveSegment).Id)) },
		idIndexSchema(IndexArchivedBuilds, (*messages.ArchiveSegment).GetBuildids, false),
		idIndexSchema(IndexArchivedSteps, (*messages.ArchiveSegment).GetStepids, false),
		idIndexSchema(IndexArchivedLogs, (*messages.ArchiveSegment).GetLogids, false))
}

// The lists of a steps segment: its builds, steps and logs.
var (
	archivedBuilds = segList[*messages.ArchiveSegment]{IndexArchivedBuilds, (*messages.ArchiveSegment).GetBuildids,
		entryItself[*messages.ArchiveSegment]}
	archivedSteps = segList[*messages.ArchiveSegment]{IndexArchivedSteps, (*messages.ArchiveSegment).GetStepids,
		func(s *messages.ArchiveSegment, i int) (int, bool) { return entryAt(s.StepBuilds, i) }}
	archivedLogs = segList[*messages.ArchiveSegment]{IndexArchivedLogs, (*messages.ArchiveSegment).GetLogids,
		func(s *messages.ArchiveSegment, i int) (int, bool) { return entryAt(s.LogBuilds, i) }}
)

// findArchived returns the segment holding id in list, with the index in
// buildids of the build it belongs to; nil when no segment does.
func findArchived(txn *memdb.Txn, list segList[*messages.ArchiveSegment], id uint64) (*messages.ArchiveSegment, int) {
	if s, i, ok := list.find(txn, TableArchive, id); ok {
		return s, i
	}
	return nil, 0
}

// stepSegmentLists returns the first disagreement of steps segment s's
// lists, or nil.
func stepSegmentLists(s *messages.ArchiveSegment) error {
	if len(s.StepBuilds) != len(s.Stepids) || len(s.LogBuilds) != len(s.Logids) {
		return fmt.Errorf("state: archive segment %d: %d steps with %d builds, %d logs with %d builds: %w",
			s.Id, len(s.Stepids), len(s.StepBuilds), len(s.Logids), len(s.LogBuilds), ErrArchiveCorrupt)
	}
	for _, l := range [][]uint32{s.StepBuilds, s.LogBuilds} {
		for _, b := range l {
			if int(b) >= len(s.Buildids) {
				return fmt.Errorf("state: archive segment %d: a step or log of build %d of %d: %w", s.Id, b, len(s.Buildids), ErrArchiveCorrupt)
			}
		}
	}
	return nil
}

// archivedBuild returns the archived steps and logs of build buildid, or
// nil.
func archivedBuild(txn *memdb.Txn, buildid uint64) *messages.ArchivedBuild {
	s, i := findArchived(txn, archivedBuilds, buildid)
	if s == nil {
		return nil
	}
	b, _ := stepArchive.decode(s, i)
	return b
}

// archivedStep returns archived step id, or nil.
func archivedStep(txn *memdb.Txn, id uint64) *messages.Step {
	s, i := findArchived(txn, archivedSteps, id)
	if s == nil {
		return nil
	}
	b, _ := stepArchive.decode(s, i)
	return stepIn(b, id)
}

// archivedLog returns archived log id, or nil.
func archivedLog(txn *memdb.Txn, id uint64) *messages.Log {
	l, _ := findArchivedLog(txn, id)
	return l
}

// findArchivedLog returns archived log id with where it is (for
// rewriteArchived), or nil.
func findArchivedLog(txn *memdb.Txn, id uint64) (*messages.Log, archivedAt) {
	s, i := findArchived(txn, archivedLogs, id)
	if s == nil {
		return nil, archivedAt{}
	}
	b, _ := stepArchive.decode(s, i)
	l := logIn(b, id)
	if l == nil {
		return nil, archivedAt{}
	}
	return l, archivedAt{s, s.Buildids[i]}
}

// archivedAt is an archived build: its id and the segment holding it.
type archivedAt struct {
	seg   *messages.ArchiveSegment
	build uint64
}

// stepIn returns step id of archived build b (nil or damaged), or nil.
func stepIn(b *messages.ArchivedBuild, id uint64) *messages.Step {
	for _, st := range b.GetSteps() {
		if st.Id == id {
			return st
		}
	}
	return nil
}

// logIn returns log id of archived build b (nil or damaged), or nil.
func logIn(b *messages.ArchivedBuild, id uint64) *messages.Log {
	for _, l := range b.GetLogs() {
		if l.Id == id {
			return l
		}
	}
	return nil
}

// archivedStepLogs returns the logs of archived step stepid, in id order.
func archivedStepLogs(txn *memdb.Txn, stepid uint64) []*messages.Log {
	s, i := findArchived(txn, archivedSteps, stepid)
	if s == nil {
		return nil
	}
	b, _ := stepArchive.decode(s, i)
	var out []*messages.Log
	for _, l := range b.GetLogs() {
		if l.Stepid == stepid {
			out = append(out, l)
		}
	}
	return out
}

// archiveListOf is the segments' list of the rows of table: steps (table
// steps) or logs.
func archiveListOf(table string) segList[*messages.ArchiveSegment] {
	if table == TableSteps {
		return archivedSteps
	}
	return archivedLogs
}

// applyArchive moves the steps and logs of finished builds buildids into a
// new archive segment (Archive). Its result's id is the segment's (0 when
// no build had steps to move), its ids the builds moved.
func applyArchive(txn *memdb.Txn, seq *ids, c *messages.Archive) (*messages.CommandResult, error) {
	const kind = "archive"
	if err := checkIDs(kind, "buildids", c.GetBuildids()); err != nil {
		return nil, err
	}
	buildids := slices.Clone(c.GetBuildids())
	slices.Sort(buildids)
	buildids = slices.Compact(buildids)
	var builds []*messages.ArchivedBuild
	for _, id := range buildids {
		b, _ := Lookup(txn, TableBuilds, id).(*messages.Build)
		switch {
		case b == nil:
			continue // expired since the janitor looked
		case !b.HasResults():
			return nil, bad(kind, "build %d is not finished", id)
		}
		steps, err := collect[*messages.Step](txn.Get(TableSteps, IndexBuildNumber+"_prefix", id))
		if err != nil {
			return nil, err
		}
		if len(steps) == 0 {
			continue // archived already, or without steps
		}
		ab := &messages.ArchivedBuild{Buildid: id, Steps: steps}
		for _, s := range steps {
			logs, err := collect[*messages.Log](txn.Get(TableLogs, IndexStep, s.Id))
			if err != nil {
				return nil, err
			}
			ab.Logs = append(ab.Logs, logs...)
		}
		slices.SortFunc(ab.Logs, func(a, b *messages.Log) int { return cmp.Compare(a.Id, b.Id) })
		builds = append(builds, ab)
	}
	if len(builds) == 0 {
		return &messages.CommandResult{}, nil
	}
	for _, t := range []string{TableSteps, TableLogs} {
		if err := raiseIDFloor(txn, t); err != nil {
			return nil, err
		}
	}
	for _, b := range builds {
		for _, l := range b.Logs {
			if err := txn.Delete(TableLogs, l); err != nil {
				return nil, err
			}
		}
		for _, s := range b.Steps {
			if err := txn.Delete(TableSteps, s); err != nil {
				return nil, err
			}
		}
	}
	seg, err := stepArchive.add(txn, seq, builds)
	if err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: seg.Id}
	for _, b := range builds {
		res.Ids = append(res.Ids, b.Buildid)
	}
	return res, nil
}

// newSegment encodes builds, in buildid order, as segment id.
func newSegment(id uint64, builds []*messages.ArchivedBuild) (*messages.ArchiveSegment, error) {
	s := &messages.ArchiveSegment{Id: id}
	type entry struct {
		id    uint64
		build uint32
	}
	var steps, logs []entry
	for i, b := range builds {
		var err error
		if s.Data, s.Ends, err = appendEntry(s.Data, s.Ends, b, "build", b.Buildid); err != nil {
			return nil, err
		}
		s.Buildids = append(s.Buildids, b.Buildid)
		for _, st := range b.Steps {
			steps = append(steps, entry{st.Id, uint32(i)})
		}
		for _, l := range b.Logs {
			logs = append(logs, entry{l.Id, uint32(i)})
		}
	}
	byID := func(a, b entry) int { return cmp.Compare(a.id, b.id) }
	slices.SortFunc(steps, byID)
	slices.SortFunc(logs, byID)
	for _, e := range steps {
		s.Stepids, s.StepBuilds = append(s.Stepids, e.id), append(s.StepBuilds, e.build)
	}
	for _, e := range logs {
		s.Logids, s.LogBuilds = append(s.Logids, e.id), append(s.LogBuilds, e.build)
	}
	s.Data = slices.Clip(s.Data)
	return s, nil
}

// rewriteArchived writes again the segments holding builds (by id, the
// segment each is in, or nil to look it up), passing each of those builds
// to edit (a copy it may change; false drops the build). A segment left
// without builds is removed.
func rewriteArchived(txn *memdb.Txn, builds map[uint64]*messages.ArchiveSegment, edit func(*messages.ArchivedBuild) bool) error {
	segs := map[uint64]*messages.ArchiveSegment{}
	for id, s := range builds {
		if s == nil {
			s, _ = findArchived(txn, archivedBuilds, id)
		}
		if s != nil {
			segs[s.Id] = s
		}
	}
	return stepArchive.edit(txn, segs, nil, func(_ *messages.ArchiveSegment, _ int, b *messages.ArchivedBuild, err error) (bool, error) {
		if err != nil {
			return false, err
		}
		_, ok := builds[b.Buildid]
		return !ok || edit(b), nil
	})
}

// ToArchive returns the builds to archive: those with steps in the steps
// table that finished before before (epoch seconds), in id order. It reads
// the steps table alone, which holds the running builds and those not
// archived yet, not the history.
func ToArchive(txn *memdb.Txn, before int64) []uint64 {
	var out []uint64
	last := uint64(0)
	for s := range scanTable(txn, TableSteps, IndexBuildNumber+"_prefix", false) {
		id := s.(*messages.Step).Buildid
		if id == last {
			continue
		}
		last = id
		if b, _ := Lookup(txn, TableBuilds, id).(*messages.Build); b.HasResults() && b.CompleteAt < before {
			out = append(out, id)
		}
	}
	return out
}
