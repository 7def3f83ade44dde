package state

import (
	"fmt"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// applyConfigureMaster records what master masterid runs: the schedulers
// and change sources named (adding those not yet known, schedulers enabled)
// are run by it, the others it ran by none; the builders listed are its
// builders (configureBuilders), the workers listed configured on them
// (configureWorkers); the reporters table holds exactly the reporters
// listed (configureReporters).
func applyConfigureMaster(txn *memdb.Txn, seq *ids, c *messages.ConfigureMaster) (*messages.CommandResult, error) {
	const kind = "configure_master"
	if err := exists(txn, kind, "master", TableMasters, c.GetMasterid()); err != nil {
		return nil, err
	}
	if len(c.GetSchedulers()) > MaxIDs || len(c.GetChangeSources()) > MaxIDs || len(c.GetBuilders()) > MaxIDs || len(c.GetWorkers()) > MaxIDs {
		return nil, bad(kind, "%d schedulers, %d change sources, %d builders and %d workers; the limit is %d each",
			len(c.GetSchedulers()), len(c.GetChangeSources()), len(c.GetBuilders()), len(c.GetWorkers()), MaxIDs)
	}
	for i, b := range c.GetBuilders() {
		if b.GetName() == "" {
			return nil, bad(kind, "builders[%d].name is empty", i)
		}
		if err := checkBuilder(kind, fmt.Sprintf("builders[%d].", i), b.GetName(), b.GetDescription(), b.GetTags()); err != nil {
			return nil, err
		}
	}
	for i, w := range c.GetWorkers() {
		if err := checkConfiguredWorker(kind, i, w); err != nil {
			return nil, err
		}
	}
	for _, list := range []struct {
		what  string
		names []string
	}{{"schedulers", c.GetSchedulers()}, {"change_sources", c.GetChangeSources()}} {
		for i, n := range list.names {
			if n == "" {
				return nil, bad(kind, "%s[%d] is empty", list.what, i)
			}
			if err := checkStr(kind, fmt.Sprintf("%s[%d]", list.what, i), n, MaxFieldBytes); err != nil {
				return nil, err
			}
		}
	}
	m := c.GetMasterid()
	newScheduler := func(id uint64, name string) *messages.Scheduler {
		return &messages.Scheduler{Id: id, Name: name, Enabled: true}
	}
	if err := runBy(txn, seq, TableSchedulers, m, c.GetSchedulers(), newScheduler, schedulerRunBy); err != nil {
		return nil, err
	}
	newChangeSource := func(id uint64, name string) *messages.ChangeSource {
		return &messages.ChangeSource{Id: id, Name: name}
	}
	if err := runBy(txn, seq, TableChangeSources, m, c.GetChangeSources(), newChangeSource, changeSourceRunBy); err != nil {
		return nil, err
	}
	builders, err := configureBuilders(txn, seq, m, c.GetBuilders())
	if err != nil {
		return nil, err
	}
	if err := configureWorkers(txn, seq, kind, m, c.GetWorkers(), builders); err != nil {
		return nil, err
	}
	if err := configureReporters(txn, kind, c.GetReporters()); err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: m}, nil
}

// runner is a row a master runs: a scheduler or a change source.
type runner interface {
	comparable
	GetName() string
	GetMasterid() uint64
}

// runBy marks each named row of table as run by master m (adding those
// missing), and the rows m ran that are not named as run by none.
func runBy[T runner](txn *memdb.Txn, seq *ids, table string, m uint64, names []string,
	add func(id uint64, name string) T, setMaster func(T, uint64) T) error {
	var zero T
	listed := make(map[string]bool, len(names))
	for _, n := range names {
		listed[n] = true
		row, err := get[T](txn, table, IndexName, n)
		if err != nil {
			return err
		}
		if row == zero {
			id, err := seq.nextID(txn, table)
			if err != nil {
				return err
			}
			row = add(id, n)
		} else if row.GetMasterid() == m {
			continue
		}
		if err := txn.Insert(table, setMaster(row, m)); err != nil {
			return err
		}
	}
	return stopRunning(txn, table, m, listed, setMaster)
}

// stopRunning marks the rows of table that master m runs, but those keep
// lists, as run by none.
func stopRunning[T runner](txn *memdb.Txn, table string, m uint64, keep map[string]bool, setMaster func(T, uint64) T) error {
	rows, err := collect[T](txn.Get(table, IndexID+"_prefix"))
	if err != nil {
		return err
	}
	for _, row := range rows {
		if row.GetMasterid() == m && !keep[row.GetName()] {
			if err := txn.Insert(table, setMaster(row, 0)); err != nil {
				return err
			}
		}
	}
	return nil
}

// schedulerRunBy returns a copy of s run by master m (0: by none).
func schedulerRunBy(s *messages.Scheduler, m uint64) *messages.Scheduler {
	s = proto.CloneOf(s)
	s.Masterid = m
	return s
}

// changeSourceRunBy returns a copy of s run by master m (0: by none).
func changeSourceRunBy(s *messages.ChangeSource, m uint64) *messages.ChangeSource {
	s = proto.CloneOf(s)
	s.Masterid = m
	return s
}
