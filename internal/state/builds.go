package state

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/messages"
)

// applyAddBuild adds a build of builder builderid, numbered one more than
// the builder's last, with the worker found or added by worker_name (else
// workerid) and the property buildnumber. In the same transaction it claims
// claim_brids and starts steps. Its result is the build's id and number,
// then each started step's id followed by its logs' ids.
func applyAddBuild(txn *memdb.Txn, seq *ids, c *messages.AddBuild) (*messages.CommandResult, error) {
	const kind = "add_build"
	if err := checkAddBuild(txn, c); err != nil {
		return nil, err
	}
	if len(c.ClaimBrids) > 0 {
		if _, err := applyClaim(txn, seq, &messages.ClaimBuildRequests{Masterid: c.Masterid, ClaimedAt: c.StartedAt, Brids: c.ClaimBrids}); err != nil {
			return nil, fmt.Errorf("%s: claim_brids: %w", kind, err)
		}
	}
	workerid := c.Workerid
	if c.WorkerName != "" {
		w, err := applyFindOrAddWorker(txn, seq, &messages.FindOrAddWorker{Name: c.WorkerName})
		if err != nil {
			return nil, err
		}
		workerid = w.Id
	}
	number := int32(1)
	last, err := txn.Last(TableBuilds, IndexBuilderNumber+"_prefix", c.Builderid)
	if err != nil {
		return nil, err
	}
	if last != nil {
		number = last.(*messages.Build).Number + 1
	}
	id, err := seq.nextID(txn, TableBuilds)
	if err != nil {
		return nil, err
	}
	b := &messages.Build{
		Id: id, Number: number, Builderid: c.Builderid, Buildrequestid: c.Buildrequestid,
		Workerid: workerid, Masterid: c.Masterid, StartedAt: c.StartedAt, StateString: c.StateString,
	}
	for _, p := range c.Properties {
		if p.Name != "buildnumber" {
			b.Properties = append(b.Properties, proto.CloneOf(p))
		}
	}
	// As Buildbot, the build's number is a property of it.
	b.Properties = append(b.Properties, &messages.Property{Name: "buildnumber", ValueJson: strconv.Itoa(int(number)), Source: "Build"})
	if err := txn.Insert(TableBuilds, b); err != nil {
		return nil, err
	}
	if err := queueReports(txn, seq, b, report.EventBuildStarted, c.StartedAt); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: id, Number: number}
	if len(c.Steps) > MaxIDs {
		return nil, bad(kind, "steps has %d steps, limit %d", len(c.Steps), MaxIDs)
	}
	for i, step := range c.Steps {
		ids, err := startStep(txn, seq, fmt.Sprintf("%s: steps[%d]", kind, i), id, step)
		if err != nil {
			return nil, err
		}
		res.Ids = append(res.Ids, ids...)
	}
	return res, nil
}

// checkAddBuild checks an AddBuild's own fields before anything is written:
// required fields, limits, and that its builder, master and build request
// exist. Its claim and steps are checked as they are applied.
func checkAddBuild(txn *memdb.Txn, c *messages.AddBuild) error {
	const kind = "add_build"
	if c == nil || c.Builderid == 0 || c.Masterid == 0 {
		return bad(kind, "builderid and masterid are required")
	}
	if c.StartedAt <= 0 {
		return bad(kind, "started_at is required (epoch seconds, > 0)")
	}
	if err := checkStr(kind, "state_string", c.StateString, MaxFieldBytes); err != nil {
		return err
	}
	if err := exists(txn, kind, "builder", TableBuilders, c.Builderid); err != nil {
		return err
	}
	if err := exists(txn, kind, "master", TableMasters, c.Masterid); err != nil {
		return err
	}
	if c.Buildrequestid != 0 {
		if err := exists(txn, kind, "build request", TableBuildRequests, c.Buildrequestid); err != nil {
			return err
		}
	}
	if err := checkProps(kind, "properties", c.Properties); err != nil {
		return err
	}
	return checkStr(kind, "worker_name", c.WorkerName, MaxFieldBytes)
}

// applyFinishBuild finishes build buildid with results at complete_at: first
// it sets what the files of its steps' logs hold (logs), then finishes its
// last_step (as FinishStep), then every step still unfinished, with its
// logs. With brids, RETRY drops the build's master's claims on them (for
// another build) and any other result completes the incomplete ones and
// their buildsets.
func applyFinishBuild(txn *memdb.Txn, seq *ids, c *messages.FinishBuild) (*messages.CommandResult, error) {
	b, err := unfinished[*messages.Build](txn, "finish_build", "build", TableBuilds, c.GetBuildid(), c.GetResults(), c.GetCompleteAt(), c.GetStateString())
	if err != nil {
		return nil, err
	}
	if err := setStepLogLines(txn, "finish_build", c.GetLogs(), func(stepid uint64) bool {
		s, _ := get[*messages.Step](txn, TableSteps, IndexID, stepid)
		return s != nil && s.Buildid == b.Id
	}); err != nil {
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
	if err := queueReports(txn, seq, b, report.EventBuildFinished, c.GetCompleteAt()); err != nil {
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

// applySetBuildProperties sets properties on build buildid, each replacing
// the one of its name, within MaxProperties in all.
func applySetBuildProperties(txn *memdb.Txn, _ *ids, c *messages.SetBuildProperties) (*messages.CommandResult, error) {
	const kind = "set_build_properties"
	if err := checkProps(kind, "properties", c.GetProperties()); err != nil {
		return nil, err
	}
	if err := unarchiveSets(txn, []uint64{c.GetBuildid()}, nil, nil); err != nil {
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

// BuildByRef finds a build by id (buildid not 0) or else by its builder's
// name and number, and returns it with its builder's name; the error says
// what does not exist.
func BuildByRef(txn *memdb.Txn, buildid uint64, builder string, number int32) (*messages.Build, string, error) {
	if buildid != 0 {
		b, _ := Lookup(txn, TableBuilds, buildid).(*messages.Build)
		if b == nil {
			return nil, "", fmt.Errorf("there is no build %d", buildid)
		}
		bldr, _ := Lookup(txn, TableBuilders, b.Builderid).(*messages.Builder)
		return b, bldr.GetName(), nil
	}
	bldr, _ := First(txn, TableBuilders, IndexName, builder).(*messages.Builder)
	if bldr == nil {
		return nil, "", fmt.Errorf("there is no builder %q", builder)
	}
	b, _ := First(txn, TableBuilds, IndexBuilderNumber, bldr.Id, number).(*messages.Build)
	if b == nil {
		return nil, "", fmt.Errorf("builder %s has no build %d", builder, number)
	}
	return b, builder, nil
}
