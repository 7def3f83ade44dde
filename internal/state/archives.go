package state

import (
	"github.com/hashicorp/go-memdb"
)

// anyArchive is what the Store does alike with every archive, whatever its
// segments hold.
type anyArchive interface {
	// tableName is the archive's table.
	tableName() string
	// checkAll returns the first damage of the archive's segments in txn
	// (wrapping ErrArchiveCorrupt), or nil.
	checkAll(txn *memdb.Txn) error
	// addRows adds sign times the rows segment seg (a row of the
	// archive's table; nil: none) holds to delta (rows by table).
	addRows(delta map[string]int, seg any, sign int)
}

func (k *archiveKind[S, E]) tableName() string { return k.table }

func (k *archiveKind[S, E]) checkAll(txn *memdb.Txn) error {
	for s := range k.segments(txn) {
		if err := k.check(s); err != nil {
			return err
		}
	}
	return nil
}

func (k *archiveKind[S, E]) addRows(delta map[string]int, seg any, sign int) {
	if s, ok := seg.(S); ok {
		k.rows(delta, s, sign)
	}
}

// archives are the Store's archives.
var archives = []anyArchive{stepArchive, setArchive, changeArchive}

// archiveOf is the archive whose table is table, or nil.
func archiveOf(table string) anyArchive {
	for _, a := range archives {
		if a.tableName() == table {
			return a
		}
	}
	return nil
}

// CheckArchive decodes every segment of every archive (steps and logs,
// buildsets, changes) and returns the first damage it finds (wrapping
// ErrArchiveCorrupt), or nil: reads skip what they cannot decode, and this
// says what and where.
func CheckArchive(txn *memdb.Txn) error {
	for _, a := range archives {
		if err := a.checkAll(txn); err != nil {
			return err
		}
	}
	return nil
}
