package state

import (
	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/messages"
)

// applyMasterStarted marks the master (by masterid, or by name, added when
// new) active at time, then does the housekeeping of what its previous run
// left. Its result is the master's id and what housekeeping counted.
func applyMasterStarted(txn *memdb.Txn, seq *ids, c *messages.MasterStarted) (*messages.CommandResult, error) {
	const kind = "master_started"
	if c == nil {
		return nil, bad(kind, "empty command")
	}
	if c.Time <= 0 {
		return nil, bad(kind, "time is required (epoch seconds, > 0)")
	}
	if err := checkStr(kind, "name", c.Name, MaxFieldBytes); err != nil {
		return nil, err
	}
	var m *messages.Master
	var err error
	switch {
	case c.Masterid != 0:
		if m, err = get[*messages.Master](txn, TableMasters, IndexID, c.Masterid); err != nil {
			return nil, err
		}
		if m == nil {
			return nil, bad(kind, "master %d does not exist", c.Masterid)
		}
		if c.Name != "" && c.Name != m.Name {
			return nil, bad(kind, "master %d is named %q, not %q", c.Masterid, m.Name, c.Name)
		}
	case c.Name != "":
		if m, err = get[*messages.Master](txn, TableMasters, IndexName, c.Name); err != nil {
			return nil, err
		}
		if m == nil {
			id, err := seq.nextID(txn, TableMasters)
			if err != nil {
				return nil, err
			}
			m = &messages.Master{Id: id, Name: c.Name}
		}
	default:
		return nil, bad(kind, "masterid or name is required")
	}
	m = proto.Clone(m).(*messages.Master)
	m.Active = true
	m.LastActive = c.Time
	if err := txn.Insert(TableMasters, m); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: m.Id}
	if err := housekeeping(txn, seq, m.Id, c.Time, res); err != nil {
		return nil, err
	}
	return res, nil
}

// applyMasterActive is a running master's heartbeat: master masterid is
// marked active at time.
func applyMasterActive(txn *memdb.Txn, _ *ids, c *messages.MasterActive) (*messages.CommandResult, error) {
	m, err := masterAt(txn, "master_active", c.GetMasterid(), c.GetTime())
	if err != nil {
		return nil, err
	}
	m.Active = true
	return &messages.CommandResult{Id: m.Id}, txn.Insert(TableMasters, m)
}

// applyMasterStopped marks master masterid inactive as of time (its
// last_active), then does the housekeeping of what it leaves.
func applyMasterStopped(txn *memdb.Txn, seq *ids, c *messages.MasterStopped) (*messages.CommandResult, error) {
	m, err := masterAt(txn, "master_stopped", c.GetMasterid(), c.GetTime())
	if err != nil {
		return nil, err
	}
	m.Active = false
	if err := txn.Insert(TableMasters, m); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: m.Id}
	return res, housekeeping(txn, seq, m.Id, c.GetTime(), res)
}

// masterAt returns a copy of master id, its last_active set to at, for a
// command of kind.
func masterAt(txn *memdb.Txn, kind string, id uint64, at int64) (*messages.Master, error) {
	if at <= 0 {
		return nil, bad(kind, "time is required (epoch seconds, > 0)")
	}
	m, err := get[*messages.Master](txn, TableMasters, IndexID, id)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, bad(kind, "master %d does not exist", id)
	}
	m = proto.CloneOf(m)
	m.LastActive = at
	return m, nil
}

// housekeeping does what Buildbot does for a master that stopped or
// crashed (_masterDeactivatedHousekeeping), except that every claimed
// incomplete request of the master is unclaimed, never left claimed: its
// incomplete builds end as RETRY, with their steps and logs; its claims are
// dropped; its builders, workers, schedulers and change sources are
// deconfigured. It counts what it did in res.
func housekeeping(txn *memdb.Txn, seq *ids, masterid uint64, now int64, res *messages.CommandResult) error {
	builds, err := collect[*messages.Build](txn.Get(TableBuilds, IndexIncompleteBy, masterid))
	if err != nil {
		return err
	}
	for _, b := range builds {
		if err := retryBuild(txn, seq, b, now, res); err != nil {
			return err
		}
	}
	reqs, err := collect[*messages.BuildRequest](txn.Get(TableBuildRequests, IndexClaimedBy, masterid))
	if err != nil {
		return err
	}
	for _, r := range reqs {
		r = proto.Clone(r).(*messages.BuildRequest)
		r.Claim = nil
		if err := txn.Insert(TableBuildRequests, r); err != nil {
			return err
		}
		res.RequestsUnclaimed++
	}
	if err := forgetWorkers(txn, masterid); err != nil {
		return err
	}
	if _, err := configureBuilders(txn, nil, masterid, nil); err != nil {
		return err
	}
	if err := stopRunning(txn, TableSchedulers, masterid, nil, schedulerRunBy); err != nil {
		return err
	}
	return stopRunning(txn, TableChangeSources, masterid, nil, changeSourceRunBy)
}

// retryBuild ends the incomplete build b at now as RETRY, with its
// unfinished steps (shown again if hidden) and its unfinished logs, and
// queues the reports its end is due.
func retryBuild(txn *memdb.Txn, seq *ids, b *messages.Build, now int64, res *messages.CommandResult) error {
	retry := int32(ResultRetry)
	steps, err := collect[*messages.Step](txn.Get(TableSteps, IndexBuildNumber+"_prefix", b.Id))
	if err != nil {
		return err
	}
	for _, s := range steps {
		if s.CompleteAt == 0 && s.Results == nil {
			s = proto.Clone(s).(*messages.Step)
			s.CompleteAt = now
			s.Results = &retry
			s.Hidden = false
			if err := txn.Insert(TableSteps, s); err != nil {
				return err
			}
			res.StepsFinished++
		}
		logs, err := collect[*messages.Log](txn.Get(TableLogs, IndexStep, s.Id))
		if err != nil {
			return err
		}
		for _, l := range logs {
			if !l.Complete {
				l = proto.Clone(l).(*messages.Log)
				l.Complete = true
				if err := txn.Insert(TableLogs, l); err != nil {
					return err
				}
				res.LogsFinished++
			}
		}
	}
	b = proto.Clone(b).(*messages.Build)
	b.CompleteAt = now
	b.Results = &retry
	if err := txn.Insert(TableBuilds, b); err != nil {
		return err
	}
	res.BuildsRetried++
	return queueReports(txn, seq, b, report.EventBuildFinished, now)
}

// forgetWorkers removes masterid from every worker's connected_to and
// configured_on.
func forgetWorkers(txn *memdb.Txn, masterid uint64) error {
	workers, err := collect[*messages.Worker](txn.Get(TableWorkers, IndexID+"_prefix"))
	if err != nil {
		return err
	}
	for _, w := range workers {
		changed := false
		var conn []uint64
		for _, id := range w.ConnectedTo {
			if id == masterid {
				changed = true
			} else {
				conn = append(conn, id)
			}
		}
		var conf []*messages.WorkerConfiguredOn
		for _, co := range w.ConfiguredOn {
			if co.Masterid == masterid {
				changed = true
			} else {
				conf = append(conf, proto.Clone(co).(*messages.WorkerConfiguredOn))
			}
		}
		if changed {
			w = proto.Clone(w).(*messages.Worker)
			w.ConnectedTo, w.ConfiguredOn = conn, conf
			if err := txn.Insert(TableWorkers, w); err != nil {
				return err
			}
		}
	}
	return nil
}
