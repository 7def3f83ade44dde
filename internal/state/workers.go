package state

import (
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
	w, err := get[*messages.Worker](txn, TableWorkers, IndexName, c.GetName())
	if err != nil {
		return nil, err
	}
	if w != nil {
		return &messages.CommandResult{Id: w.Id}, nil
	}
	id, err := seq.nextID(txn, TableWorkers)
	if err != nil {
		return nil, err
	}
	if err := txn.Insert(TableWorkers, &messages.Worker{Id: id, Name: c.GetName()}); err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: id}, nil
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
