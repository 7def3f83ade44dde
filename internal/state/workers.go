package state

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// applyFindOrAddWorker returns the id of the worker called name, adding it
// when new.
func applyFindOrAddWorker(txn *memdb.Txn, seq *ids, c *messages.FindOrAddWorker) (*messages.CommandResult, error) {
	const kind = "find_or_add_worker"
	if c.GetName() == "" {
		return nil, bad(kind, "name is required")
	}
	if err := checkStr(kind, "name", c.GetName(), MaxFieldBytes); err != nil {
		return nil, err
	}
	w, err := findOrAddWorker(txn, seq, c.GetName())
	if err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: w.Id}, nil
}

// findOrAddWorker returns the worker called name, adding it when new.
func findOrAddWorker(txn *memdb.Txn, seq *ids, name string) (*messages.Worker, error) {
	w, err := get[*messages.Worker](txn, TableWorkers, IndexName, name)
	if err != nil || w != nil {
		return w, err
	}
	id, err := seq.nextID(txn, TableWorkers)
	if err != nil {
		return nil, err
	}
	w = &messages.Worker{Id: id, Name: name}
	return w, txn.Insert(TableWorkers, w)
}

// configureWorkers records, for master m, the builders each listed worker is
// configured on (Buildbot's configured_workers): each is found, or added,
// by name, and its configured_on entries of m become those of its builders
// (named in builders, the ids of m's builders); every other worker has no
// entry of m left. Entries are kept in (builderid, masterid) order.
func configureWorkers(txn *memdb.Txn, seq *ids, kind string, m uint64, listed []*messages.ConfiguredWorker, builders map[string]uint64) error {
	seen := make(map[string]bool, len(listed))
	for i, c := range listed {
		w, err := findOrAddWorker(txn, seq, c.GetName())
		if err != nil {
			return err
		}
		seen[c.GetName()] = true
		var mine []*messages.WorkerConfiguredOn
		for j, name := range c.GetBuilders() {
			id, ok := builders[name]
			if !ok {
				return bad(kind, "workers[%d].builders[%d]: %q is not one of the master's builders", i, j, name)
			}
			mine = append(mine, &messages.WorkerConfiguredOn{Builderid: id, Masterid: m})
		}
		if err := setConfiguredOn(txn, w, m, mine); err != nil {
			return err
		}
	}
	all, err := collect[*messages.Worker](txn.Get(TableWorkers, IndexID+"_prefix"))
	if err != nil {
		return err
	}
	for _, w := range all {
		if !seen[w.Name] {
			if err := setConfiguredOn(txn, w, m, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// setConfiguredOn replaces worker w's configured_on entries of master m
// with mine, writing w only when that changes it.
func setConfiguredOn(txn *memdb.Txn, w *messages.Worker, m uint64, mine []*messages.WorkerConfiguredOn) error {
	next := slices.DeleteFunc(slices.Clone(w.ConfiguredOn), func(co *messages.WorkerConfiguredOn) bool { return co.GetMasterid() == m })
	next = append(next, mine...)
	slices.SortFunc(next, func(a, b *messages.WorkerConfiguredOn) int {
		return cmp.Or(cmp.Compare(a.GetBuilderid(), b.GetBuilderid()), cmp.Compare(a.GetMasterid(), b.GetMasterid()))
	})
	next = slices.CompactFunc(next, func(a, b *messages.WorkerConfiguredOn) bool { return proto.Equal(a, b) })
	if slices.EqualFunc(next, w.ConfiguredOn, func(a, b *messages.WorkerConfiguredOn) bool { return proto.Equal(a, b) }) {
		return nil
	}
	w = proto.CloneOf(w)
	w.ConfiguredOn = next
	return txn.Insert(TableWorkers, w)
}

// checkConfiguredWorker checks worker i of a ConfigureMaster.
func checkConfiguredWorker(kind string, i int, c *messages.ConfiguredWorker) error {
	if c.GetName() == "" {
		return bad(kind, "workers[%d].name is empty", i)
	}
	if err := checkStr(kind, fmt.Sprintf("workers[%d].name", i), c.GetName(), MaxFieldBytes); err != nil {
		return err
	}
	if len(c.GetBuilders()) > MaxIDs {
		return bad(kind, "workers[%d].builders has %d entries, limit %d", i, len(c.GetBuilders()), MaxIDs)
	}
	return nil
}

// applyWorkerConnected records that worker workerid is connected to master
// masterid (once), with its info_json when that is set.
func applyWorkerConnected(txn *memdb.Txn, _ *ids, c *messages.WorkerConnected) (*messages.CommandResult, error) {
	const kind = "worker_connected"
	if err := checkStr(kind, "info_json", c.GetInfoJson(), MaxPropertyValueBytes); err != nil {
		return nil, err
	}
	w, err := workerAndMaster(txn, kind, c.GetWorkerid(), c.GetMasterid())
	if err != nil {
		return nil, err
	}
	w = proto.CloneOf(w)
	if c.GetInfoJson() != "" {
		w.InfoJson = c.GetInfoJson()
	}
	found := false
	for _, m := range w.ConnectedTo {
		found = found || m == c.GetMasterid()
	}
	if !found {
		w.ConnectedTo = append(w.ConnectedTo, c.GetMasterid())
	}
	return &messages.CommandResult{Id: w.Id}, txn.Insert(TableWorkers, w)
}

// applyWorkerDisconnected removes master masterid from worker workerid's
// connections.
func applyWorkerDisconnected(txn *memdb.Txn, _ *ids, c *messages.WorkerDisconnected) (*messages.CommandResult, error) {
	const kind = "worker_disconnected"
	w, err := workerAndMaster(txn, kind, c.GetWorkerid(), c.GetMasterid())
	if err != nil {
		return nil, err
	}
	w = proto.CloneOf(w)
	var keep []uint64
	for _, m := range w.ConnectedTo {
		if m != c.GetMasterid() {
			keep = append(keep, m)
		}
	}
	w.ConnectedTo = keep
	return &messages.CommandResult{Id: w.Id}, txn.Insert(TableWorkers, w)
}

// applySetWorkerState records worker workerid's paused, graceful and
// quarantine (Buildbot's setWorkerState, plus the quarantine).
func applySetWorkerState(txn *memdb.Txn, _ *ids, c *messages.SetWorkerState) (*messages.CommandResult, error) {
	const kind = "set_worker_state"
	if c.GetQuarantineUntil() < 0 || c.GetQuarantineTimeout() < 0 {
		return nil, bad(kind, "quarantine_until and quarantine_timeout must not be negative")
	}
	w, err := get[*messages.Worker](txn, TableWorkers, IndexID, c.GetWorkerid())
	if err != nil {
		return nil, err
	}
	if w == nil {
		return nil, bad(kind, "worker %d does not exist", c.GetWorkerid())
	}
	w = proto.CloneOf(w)
	w.Paused, w.Graceful = c.GetPaused(), c.GetGraceful()
	w.QuarantineUntil, w.QuarantineTimeout = c.GetQuarantineUntil(), c.GetQuarantineTimeout()
	return &messages.CommandResult{Id: w.Id}, txn.Insert(TableWorkers, w)
}

// workerAndMaster checks that master masterid exists and returns worker
// workerid, which must.
func workerAndMaster(txn *memdb.Txn, kind string, workerid, masterid uint64) (*messages.Worker, error) {
	if err := exists(txn, kind, "master", TableMasters, masterid); err != nil {
		return nil, err
	}
	w, err := get[*messages.Worker](txn, TableWorkers, IndexID, workerid)
	if err != nil {
		return nil, err
	}
	if w == nil {
		return nil, bad(kind, "worker %d does not exist", workerid)
	}
	return w, nil
}
