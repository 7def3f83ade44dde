package state

import (
	"iter"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"
)

// First returns the first row of table whose index matches args (for a
// unique index, the row), or nil.
//
// Steps and logs moved to the archive, and changes moved to the change
// archive, are found as if they were in their tables (so are they by
// ScanIndex, Scan, Lookup and Count).
func First(txn *memdb.Txn, table, index string, args ...any) proto.Message {
	raw, err := txn.First(table, index, args...)
	if err != nil {
		return nil
	}
	if raw != nil && (table != TableChanges || index == IndexID) {
		return raw.(proto.Message)
	}
	if table == TableChanges { // an archived change comes first: older
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
// table) both are merged in index order. Archived changes are merged in
// index order always (archive_changes_read.go).
func ScanIndex(txn *memdb.Txn, table, index string, descending bool, args ...any) iter.Seq[proto.Message] {
	rows := scanTable(txn, table, index, descending, args...)
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
