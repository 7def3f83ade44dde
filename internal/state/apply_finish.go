package state

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// Worst returns the worse of two results, as Buildbot's worst_status:
// CANCELLED, then RETRY, EXCEPTION, FAILURE, WARNINGS, SUCCESS, and SKIPPED
// the least bad.
func Worst(a, b int32) int32 {
	for _, r := range []int32{ResultCancelled, ResultRetry, ResultException, ResultFailure, ResultWarnings, ResultSuccess, ResultSkipped} {
		if a == r || b == r {
			return r
		}
	}
	return max(a, b) // unknown codes: not reached for valid results
}

func checkResults(kind string, r int32) error {
	if r < ResultSuccess || r > ResultCancelled {
		return bad(kind, "results %d is not a result code (0 SUCCESS … 6 CANCELLED)", r)
	}
	return nil
}

// ---- FinishLog, FinishStep, FinishBuild ----

func applyFinishLog(txn *memdb.Txn, _ *ids, c *messages.FinishLog) (*messages.CommandResult, error) {
	const kind = "finish_log"
	l, err := get[*messages.Log](txn, TableLogs, IndexID, c.GetLogid())
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, bad(kind, "log %d does not exist", c.GetLogid())
	}
	return &messages.CommandResult{Id: l.Id}, finishLog(txn, l)
}

// finishable is a row that ends with results: a step or a build.
type finishable interface {
	comparable
	HasResults() bool
}

// unfinished checks a finish command (results, completion time, state
// string) and returns the row it finishes, which must exist unfinished.
func unfinished[T finishable](txn *memdb.Txn, kind, what, table string, id uint64, results int32, at int64, stateString string) (T, error) {
	var zero T
	if err := checkResults(kind, results); err != nil {
		return zero, err
	}
	if err := checkStr(kind, "state_string", stateString, MaxFieldBytes); err != nil {
		return zero, err
	}
	if at <= 0 {
		return zero, bad(kind, "complete_at is required (epoch seconds, > 0)")
	}
	row, err := get[T](txn, table, IndexID, id)
	switch {
	case err != nil:
		return zero, err
	case row == zero:
		return zero, bad(kind, "%s %d does not exist", what, id)
	case row.HasResults():
		return zero, bad(kind, "%s %d is already finished", what, id)
	}
	return row, nil
}

func finishLog(txn *memdb.Txn, l *messages.Log) error {
	if l.Complete {
		return nil
	}
	l = proto.CloneOf(l)
	l.Complete = true
	return txn.Insert(TableLogs, l)
}

func applyFinishStep(txn *memdb.Txn, seq *ids, c *messages.FinishStep) (*messages.CommandResult, error) {
	s, err := unfinished[*messages.Step](txn, "finish_step", "step", TableSteps, c.GetStepid(), c.GetResults(), c.GetCompleteAt(), c.GetStateString())
	if err != nil {
		return nil, err
	}
	if a := c.GetAppend(); a != nil {
		l, err := get[*messages.Log](txn, TableLogs, IndexID, a.GetLogid())
		if err != nil {
			return nil, err
		}
		if l == nil || l.Stepid != s.Id {
			return nil, bad("finish_step", "append: log %d is not a log of step %d", a.GetLogid(), s.Id)
		}
		if _, err := applyAppendLog(txn, nil, a); err != nil {
			return nil, err
		}
	}
	if err := finishStep(txn, s, c.GetResults(), c.GetCompleteAt(), c.GetStateString()); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: s.Id}
	if c.GetNext() != nil {
		if res.Ids, err = startStep(txn, seq, "finish_step: next", s.Buildid, c.GetNext()); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func finishStep(txn *memdb.Txn, s *messages.Step, results int32, at int64, state string) error {
	logs, err := collect[*messages.Log](txn.Get(TableLogs, IndexStep, s.Id))
	if err != nil {
		return err
	}
	for _, l := range logs {
		if err := finishLog(txn, l); err != nil {
			return err
		}
	}
	s = proto.CloneOf(s)
	s.Results, s.CompleteAt = &results, at
	if state != "" {
		s.StateString = state
	}
	return txn.Insert(TableSteps, s)
}

func applyFinishBuild(txn *memdb.Txn, seq *ids, c *messages.FinishBuild) (*messages.CommandResult, error) {
	b, err := unfinished[*messages.Build](txn, "finish_build", "build", TableBuilds, c.GetBuildid(), c.GetResults(), c.GetCompleteAt(), c.GetStateString())
	if err != nil {
		return nil, err
	}
	if last := c.GetLastStep(); last != nil {
		s, err := get[*messages.Step](txn, TableSteps, IndexID, last.GetStepid())
		if err != nil {
			return nil, err
		}
		if s != nil && s.Buildid != b.Id {
			return nil, bad("finish_build", "last_step: step %d is not a step of build %d", s.Id, b.Id)
		}
		if last.GetNext() != nil {
			return nil, bad("finish_build", "last_step: a build's last step starts no next one")
		}
		if _, err := applyFinishStep(txn, seq, last); err != nil {
			return nil, fmt.Errorf("finish_build: last_step: %w", err)
		}
	}
	steps, err := collect[*messages.Step](txn.Get(TableSteps, IndexBuildNumber+"_prefix", b.Id))
	if err != nil {
		return nil, err
	}
	for _, s := range steps {
		if s.Results == nil {
			if err := finishStep(txn, s, c.GetResults(), c.GetCompleteAt(), ""); err != nil {
				return nil, err
			}
		}
	}
	results := c.GetResults()
	b = proto.CloneOf(b)
	b.Results, b.CompleteAt = &results, c.GetCompleteAt()
	if c.GetStateString() != "" {
		b.StateString = c.GetStateString()
	}
	if err := txn.Insert(TableBuilds, b); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: b.Id}
	if len(c.GetBrids()) == 0 {
		return res, nil
	}
	if err := checkIDs("finish_build", "brids", c.GetBrids()); err != nil {
		return nil, err
	}
	reqs, err := requests(txn, "finish_build", c.GetBrids())
	if err != nil {
		return nil, err
	}
	if results == ResultRetry {
		return res, unclaim(txn, reqs, b.Masterid, res)
	}
	reqs = slices.DeleteFunc(reqs, func(r *messages.BuildRequest) bool { return r.Complete })
	return res, complete(txn, reqs, results, c.GetCompleteAt(), res)
}

// ---- build requests ----

func applyCompleteBuildRequests(txn *memdb.Txn, _ *ids, c *messages.CompleteBuildRequests) (*messages.CommandResult, error) {
	const kind = "complete_build_requests"
	if len(c.GetBrids()) == 0 {
		return nil, bad(kind, "brids is empty")
	}
	if err := checkIDs(kind, "brids", c.GetBrids()); err != nil {
		return nil, err
	}
	if err := checkResults(kind, c.GetResults()); err != nil {
		return nil, err
	}
	if c.GetCompleteAt() <= 0 {
		return nil, bad(kind, "complete_at is required (epoch seconds, > 0)")
	}
	reqs, err := requests(txn, kind, c.GetBrids())
	if err != nil {
		return nil, err
	}
	for i, r := range reqs {
		if r.Complete {
			return nil, bad(kind, "brids[%d]: build request %d is already complete", i, r.Id)
		}
	}
	res := &messages.CommandResult{Ids: append([]uint64(nil), c.GetBrids()...)}
	return res, complete(txn, reqs, c.GetResults(), c.GetCompleteAt(), res)
}

// complete completes reqs with results, then each of their buildsets whose
// requests are all complete, noting those in res.
func complete(txn *memdb.Txn, reqs []*messages.BuildRequest, results int32, at int64, res *messages.CommandResult) error {
	buildsets := map[uint64]bool{}
	var order []uint64
	for _, r := range reqs {
		r = proto.CloneOf(r)
		r.Complete, r.Results, r.CompleteAt, r.Claim = true, &results, at, nil
		if err := txn.Insert(TableBuildRequests, r); err != nil {
			return err
		}
		if !buildsets[r.Buildsetid] {
			buildsets[r.Buildsetid] = true
			order = append(order, r.Buildsetid)
		}
	}
	for _, bsid := range order {
		done, err := maybeBuildsetComplete(txn, bsid, at)
		if err != nil {
			return err
		}
		if done {
			res.CompletedBuildsets = append(res.CompletedBuildsets, bsid)
		}
	}
	return nil
}

// maybeBuildsetComplete completes buildset bsid when every one of its
// requests is complete, with the worst of their results (Buildbot's
// maybeBuildsetComplete). It reports whether it did.
func maybeBuildsetComplete(txn *memdb.Txn, bsid uint64, at int64) (bool, error) {
	bs, err := get[*messages.Buildset](txn, TableBuildsets, IndexID, bsid)
	if err != nil || bs == nil || bs.Complete {
		return false, err
	}
	// Stop at the first incomplete request: a large buildset is otherwise
	// read whole at each of its requests' completion.
	it, err := txn.Get(TableBuildRequests, IndexBuildset, bsid)
	if err != nil {
		return false, err
	}
	results := int32(ResultSuccess)
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*messages.BuildRequest)
		if !r.Complete {
			return false, nil
		}
		results = Worst(results, r.GetResults())
	}
	bs = proto.CloneOf(bs)
	bs.Complete, bs.CompleteAt, bs.Results = true, at, &results
	return true, txn.Insert(TableBuildsets, bs)
}

func applyUnclaimBuildRequests(txn *memdb.Txn, _ *ids, c *messages.UnclaimBuildRequests) (*messages.CommandResult, error) {
	const kind = "unclaim_build_requests"
	if c.GetMasterid() == 0 {
		return nil, bad(kind, "masterid is required")
	}
	if err := checkIDs(kind, "brids", c.GetBrids()); err != nil {
		return nil, err
	}
	reqs, err := requests(txn, kind, c.GetBrids())
	if err != nil {
		return nil, err
	}
	res := &messages.CommandResult{}
	return res, unclaim(txn, reqs, c.GetMasterid(), res)
}

// unclaim drops masterid's claims on the incomplete requests of reqs,
// noting them in res.
func unclaim(txn *memdb.Txn, reqs []*messages.BuildRequest, masterid uint64, res *messages.CommandResult) error {
	for _, r := range reqs {
		if r.Complete || r.Claim == nil || r.Claim.Masterid != masterid {
			continue
		}
		r = proto.CloneOf(r)
		r.Claim = nil
		if err := txn.Insert(TableBuildRequests, r); err != nil {
			return err
		}
		res.Ids = append(res.Ids, r.Id)
		res.RequestsUnclaimed++
	}
	return nil
}

// requests reads the listed build requests, each of which must exist, once.
func requests(txn *memdb.Txn, kind string, brids []uint64) ([]*messages.BuildRequest, error) {
	out := make([]*messages.BuildRequest, 0, len(brids))
	seen := make(map[uint64]bool, len(brids))
	for i, id := range brids {
		r, err := get[*messages.BuildRequest](txn, TableBuildRequests, IndexID, id)
		switch {
		case err != nil:
			return nil, err
		case r == nil:
			return nil, bad(kind, "brids[%d]: build request %d does not exist", i, id)
		case seen[id]:
			return nil, bad(kind, "brids[%d]: build request %d listed twice", i, id)
		}
		seen[id] = true
		out = append(out, r)
	}
	return out, nil
}

// ---- build properties ----

func applySetBuildProperties(txn *memdb.Txn, _ *ids, c *messages.SetBuildProperties) (*messages.CommandResult, error) {
	const kind = "set_build_properties"
	if err := checkProps(kind, "properties", c.GetProperties()); err != nil {
		return nil, err
	}
	b, err := get[*messages.Build](txn, TableBuilds, IndexID, c.GetBuildid())
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, bad(kind, "build %d does not exist", c.GetBuildid())
	}
	b = proto.CloneOf(b)
	for _, p := range c.GetProperties() {
		replaced := false
		for i, old := range b.Properties {
			if old.Name == p.Name {
				b.Properties[i] = proto.CloneOf(p)
				replaced = true
				break
			}
		}
		if !replaced {
			b.Properties = append(b.Properties, proto.CloneOf(p))
		}
	}
	if len(b.Properties) > MaxProperties {
		return nil, bad(kind, "build %d would have %d properties, limit %d", b.Id, len(b.Properties), MaxProperties)
	}
	if err := txn.Insert(TableBuilds, b); err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: b.Id}, nil
}

// ---- workers ----

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

// ---- scheduler state (Buildbot's objects and object_state) ----

// CheckObjectState checks a SetObjectState without the database: the
// names are required and within MaxFieldBytes, the value is valid JSON
// within MaxPropertyValueBytes. The error wraps ErrBadCommand and names the
// field.
func CheckObjectState(c *messages.SetObjectState) error {
	const kind = "set_object_state"
	if c == nil {
		return bad(kind, "empty command")
	}
	for _, f := range []struct{ name, v string }{{"object_name", c.GetObjectName()}, {"class_name", c.GetClassName()}, {"name", c.GetName()}} {
		if f.v == "" {
			return bad(kind, "%s is required", f.name)
		}
		if err := checkStr(kind, f.name, f.v, MaxFieldBytes); err != nil {
			return err
		}
	}
	if err := checkStr(kind, "value_json", c.GetValueJson(), MaxPropertyValueBytes); err != nil {
		return err
	}
	if !json.Valid([]byte(c.GetValueJson())) {
		return bad(kind, "value_json is not valid JSON")
	}
	return nil
}

func applySetObjectState(txn *memdb.Txn, seq *ids, c *messages.SetObjectState) (*messages.CommandResult, error) {
	if err := CheckObjectState(c); err != nil {
		return nil, err
	}
	obj, err := get[*messages.StateObject](txn, TableObjects, IndexName, c.GetObjectName(), c.GetClassName())
	if err != nil {
		return nil, err
	}
	if obj == nil {
		id, err := seq.nextID(txn, TableObjects)
		if err != nil {
			return nil, err
		}
		obj = &messages.StateObject{Id: id, Name: c.GetObjectName(), ClassName: c.GetClassName()}
		if err := txn.Insert(TableObjects, obj); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
	}
	st := &messages.ObjectState{Objectid: obj.Id, Name: c.GetName(), ValueJson: c.GetValueJson()}
	return &messages.CommandResult{Id: obj.Id}, txn.Insert(TableObjectState, st)
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
	rows, err := collect[T](txn.Get(table, IndexID+"_prefix"))
	if err != nil {
		return err
	}
	for _, row := range rows {
		if row.GetMasterid() == m && !listed[row.GetName()] {
			if err := txn.Insert(table, setMaster(row, 0)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ObjectState returns the value (JSON) of name in the state of the object
// (objectName, className), and whether it is set (Buildbot's getState).
func ObjectState(txn *memdb.Txn, objectName, className, name string) (string, bool) {
	obj, err := get[*messages.StateObject](txn, TableObjects, IndexName, objectName, className)
	if err != nil || obj == nil {
		return "", false
	}
	st, err := get[*messages.ObjectState](txn, TableObjectState, IndexID, obj.Id, name)
	if err != nil || st == nil {
		return "", false
	}
	return st.ValueJson, true
}

// ---- schedulers and change sources a master runs ----

func applyConfigureMaster(txn *memdb.Txn, seq *ids, c *messages.ConfigureMaster) (*messages.CommandResult, error) {
	const kind = "configure_master"
	if err := exists(txn, kind, "master", TableMasters, c.GetMasterid()); err != nil {
		return nil, err
	}
	if len(c.GetSchedulers()) > MaxIDs || len(c.GetChangeSources()) > MaxIDs {
		return nil, bad(kind, "%d schedulers and %d change sources; the limit is %d each", len(c.GetSchedulers()), len(c.GetChangeSources()), MaxIDs)
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
	if err := runBy(txn, seq, TableSchedulers, m, c.GetSchedulers(),
		func(id uint64, name string) *messages.Scheduler {
			return &messages.Scheduler{Id: id, Name: name, Enabled: true}
		},
		func(s *messages.Scheduler, m uint64) *messages.Scheduler {
			s = proto.CloneOf(s)
			s.Masterid = m
			return s
		}); err != nil {
		return nil, err
	}
	if err := runBy(txn, seq, TableChangeSources, m, c.GetChangeSources(),
		func(id uint64, name string) *messages.ChangeSource { return &messages.ChangeSource{Id: id, Name: name} },
		func(s *messages.ChangeSource, m uint64) *messages.ChangeSource {
			s = proto.CloneOf(s)
			s.Masterid = m
			return s
		}); err != nil {
		return nil, err
	}
	return &messages.CommandResult{Id: m}, nil
}
