package state

import (
	"fmt"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// ids remembers, within one write transaction, the next id of each table
// once it has been read, so that a batch of commands in one transaction
// does not read the id index again for each command (a read inside a memdb
// write transaction throws away its cache of writable radix nodes). It is
// only valid for the transaction it was made for, and is dropped with it.
// It also remembers the latest change added in the transaction per
// (branch, repository, project, codebase), the parent of the next one.
type ids struct {
	next       map[string]uint64
	lastChange map[string]uint64
}

// nextID returns the next id of table, reading the largest id of the table
// only the first time in the transaction.
func (seq *ids) nextID(txn *memdb.Txn, table string) (uint64, error) {
	if id, ok := seq.next[table]; ok {
		seq.next[table] = id + 1
		return id, nil
	}
	id, err := nextID(txn, table)
	if err != nil {
		return 0, err
	}
	if seq.next == nil {
		seq.next = map[string]uint64{}
	}
	seq.next[table] = id + 1
	return id, nil
}

// nextID returns one more than the largest id of table, or than its id
// floor (the largest id it had before Expire removed rows), 1 when it never
// had a row. A table without a case here is an error: a new table whose ids
// Apply allocates needs one.
func nextID(txn *memdb.Txn, table string) (uint64, error) {
	floor, err := idFloor(txn, table)
	if err != nil {
		return 0, err
	}
	last, err := lastID(txn, table)
	return max(last, floor) + 1, err
}

// idFloor returns the id floor of table (0 when none).
func idFloor(txn *memdb.Txn, table string) (uint64, error) {
	raw, err := txn.First(TableIDFloors, IndexID, table)
	if err != nil || raw == nil {
		return 0, err
	}
	return raw.(*messages.IdFloor).Id, nil
}

// raiseIDFloor makes table's id floor its largest id, before rows of it
// are removed.
func raiseIDFloor(txn *memdb.Txn, table string) error {
	floor, err := idFloor(txn, table)
	if err != nil {
		return err
	}
	last, err := lastID(txn, table)
	if err != nil || last <= floor {
		return err
	}
	return txn.Insert(TableIDFloors, &messages.IdFloor{Table: table, Id: last})
}

// lastID returns the largest id of table, 0 when it is empty.
func lastID(txn *memdb.Txn, table string) (uint64, error) {
	raw, err := txn.Last(table, IndexID)
	if err != nil {
		return 0, err
	}
	if raw == nil {
		return 0, nil
	}
	var last uint64
	switch r := raw.(type) {
	case *messages.Master:
		last = r.Id
	case *messages.Change:
		last = r.Changeid
	case *messages.SourceStamp:
		last = r.Id
	case *messages.Buildset:
		last = r.Id
	case *messages.BuildRequest:
		last = r.Id
	case *messages.Builder:
		last = r.Id
	case *messages.Build:
		last = r.Id
	case *messages.Step:
		last = r.Id
	case *messages.Log:
		last = r.Id
	case *messages.Worker:
		last = r.Id
	case *messages.StateObject:
		last = r.Id
	case *messages.Scheduler:
		last = r.Id
	case *messages.ChangeSource:
		last = r.Id
	case *messages.User:
		last = r.Uid
	case *messages.ApiToken:
		last = r.Id
	case *messages.OutboxEntry:
		last = r.Id
	case *messages.ArchiveSegment:
		last = r.Id
	case *messages.BuildsetSegment:
		last = r.Id
	case *messages.ChangeSegment:
		last = r.Id
	default:
		return 0, fmt.Errorf("state: no id allocation for table %s", table)
	}
	return last, nil
}
