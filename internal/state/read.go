package state

import (
	"iter"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// First returns the first row of table whose index matches args (for a
// unique index, the row), or nil.
//
// Steps and logs moved to the archive, builds, build requests and
// buildsets moved to the buildset archive, and changes moved to the change
// archive, are found as if they were in their tables (so are they by
// ScanIndex, Scan, Lookup and Count).
func First(txn *memdb.Txn, table, index string, args ...any) proto.Message {
	raw, err := txn.First(table, index, args...)
	if err != nil {
		return nil
	}
	if inSetArchive(table, index) && (raw == nil || !uniqueKey(index, args)) {
		for m := range ScanIndex(txn, table, index, false, args...) {
			return m // the table's row, or an archived one before it
		}
		return nil
	}
	if table == TableChanges && (raw == nil || index != IndexID) { // an archived change comes first: older
		for m := range ScanIndex(txn, table, index, false, args...) {
			return m
		}
		return nil
	}
	if raw != nil {
		return raw.(proto.Message)
	}
	if table != TableSteps && table != TableLogs {
		return nil
	}
	for m := range archivedIndex(txn, table, index, false, args...) {
		return m
	}
	return nil
}

// uniqueKey reports whether args are a whole key of unique index (an id,
// or a build's builder and number), which no archived row shares with a
// row of its table.
func uniqueKey(index string, args []any) bool {
	return index == IndexID && len(args) == 1 || index == IndexBuilderNumber && len(args) == 2
}

// get returns the first row of table whose index matches args, as a T, or
// the zero T.
func get[T any](txn *memdb.Txn, table, index string, args ...any) (T, error) {
	var zero T
	raw, err := txn.First(table, index, args...)
	if err != nil || raw == nil {
		return zero, err
	}
	return raw.(T), nil
}

// collect reads every row an iterator gives before anything is written, so
// that writes never disturb the iteration.
func collect[T any](it memdb.ResultIterator, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	var out []T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(T))
	}
	return out, nil
}

// Scan yields every row of table in id order (or reversed). It stops when
// the caller stops.
func Scan(txn *memdb.Txn, table string, descending bool) iter.Seq[proto.Message] {
	return ScanIndex(txn, table, IndexID+"_prefix", descending)
}

// ScanIndex yields the rows of table whose index matches args, in index
// order (or reversed). Rows equal on a non-unique index follow in id order.
//
// For steps and logs, the archived ones are merged in: with args (a build's
// steps, a step's logs, one id) they are read when the table has none (the
// archive holds a build's steps and logs all or none), without (a whole
// table) both are merged in index order. Archived builds, build requests,
// buildsets and changes are merged in index order whatever the args
// (archive_builds_read.go, archive_changes_read.go).
func ScanIndex(txn *memdb.Txn, table, index string, descending bool, args ...any) iter.Seq[proto.Message] {
	rows := scanTable(txn, table, index, descending, args...)
	if inSetArchive(table, index) {
		return mergeSorted(rows, archivedSetIndex(txn, table, index, descending, args...), setKeyCmp(table, index), descending)
	}
	if table == TableChanges {
		return mergeSorted(rows, archivedChangeIndex(txn, index, descending, args...), changeKeyCmp(index), descending)
	}
	if table != TableSteps && table != TableLogs {
		return rows
	}
	archived := archivedIndex(txn, table, index, descending, args...)
	if len(args) == 0 {
		return mergeSorted(rows, archived, archiveKeyCmp(table, index), descending)
	}
	return func(yield func(proto.Message) bool) {
		found := false
		for m := range rows {
			found = true
			if !yield(m) {
				return
			}
		}
		if found {
			return
		}
		for m := range archived {
			if !yield(m) {
				return
			}
		}
	}
}

// ScanUnfinished yields the rows of table that are not archived, in id
// order (or reversed), without decoding the archives. ArchiveBuildsets
// refuses a buildset not complete, with a request not complete or a build
// without results, so every build without results, every request and every
// buildset not complete is among these rows (an archived request may be
// unclaimed: one cancelled before a claim). For other tables it is the
// table's own rows, with no such promise.
func ScanUnfinished(txn *memdb.Txn, table string, descending bool) iter.Seq[proto.Message] {
	return scanTable(txn, table, IndexID+"_prefix", descending)
}

// BuildLogs yields the logs of build buildid with their steps, as
// ScanIndex of the build's steps and of each step's logs does (steps in
// number order, a step's logs after it in id order), but decoding an
// archived build once rather than once per step.
func BuildLogs(txn *memdb.Txn, buildid uint64) iter.Seq2[*messages.Step, *messages.Log] {
	return func(yield func(*messages.Step, *messages.Log) bool) {
		live := false
		for s := range scanTable(txn, TableSteps, IndexBuildNumber+"_prefix", false, buildid) {
			live = true
			s := s.(*messages.Step)
			for l := range scanTable(txn, TableLogs, IndexStep, false, s.Id) {
				if !yield(s, l.(*messages.Log)) {
					return
				}
			}
		}
		if live {
			return // the archive holds a build's steps and logs all or none
		}
		b := archivedBuild(txn, buildid)
		for _, s := range b.GetSteps() {
			for _, l := range b.GetLogs() {
				if l.Stepid == s.Id && !yield(s, l) {
					return
				}
			}
		}
	}
}

// scanTable is ScanIndex on the memdb table alone.
func scanTable(txn *memdb.Txn, table, index string, descending bool, args ...any) iter.Seq[proto.Message] {
	return func(yield func(proto.Message) bool) {
		get := txn.Get
		if descending {
			get = txn.GetReverse
		}
		it, err := get(table, index, args...)
		if err != nil {
			return
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if !yield(raw.(proto.Message)) {
				return
			}
		}
	}
}

// Lookup returns the row of table whose id is id, or nil.
func Lookup(txn *memdb.Txn, table string, id uint64) proto.Message {
	return First(txn, table, IndexID, id)
}
