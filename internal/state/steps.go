package state

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// startStep adds step, of build buildid (step.buildid must be 0 or that),
// for a command that starts a step as part of something else; it returns
// the step's id then its logs' ids.
func startStep(txn *memdb.Txn, seq *ids, kind string, buildid uint64, step *messages.AddStep) ([]uint64, error) {
	if step.Buildid != 0 && step.Buildid != buildid {
		return nil, bad(kind, "buildid %d is not the build's (%d)", step.Buildid, buildid)
	}
	step = proto.CloneOf(step)
	step.Buildid = buildid
	r, err := applyAddStep(txn, seq, step)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return append([]uint64{r.Id}, r.Ids...), nil
}

// applyAddStep adds step name to build buildid, numbered after the build's
// last, with a log of type s per log_names (slug: the name). A name the
// build has already is made unique as Buildbot's database does (stepName).
// With results it is added finished, its logs too. Its result is the step's
// id and number and the logs' ids.
func applyAddStep(txn *memdb.Txn, seq *ids, c *messages.AddStep) (*messages.CommandResult, error) {
	const kind = "add_step"
	if c == nil || c.Buildid == 0 || c.Name == "" {
		return nil, bad(kind, "buildid and name are required")
	}
	if len(c.Name) > MaxStepNameBytes {
		return nil, bad(kind, "name is %d bytes, limit %d (Buildbot's steps.name)", len(c.Name), MaxStepNameBytes)
	}
	if err := checkStr(kind, "state_string", c.StateString, MaxFieldBytes); err != nil {
		return nil, err
	}
	if err := exists(txn, kind, "build", TableBuilds, c.Buildid); err != nil {
		return nil, err
	}
	number := int32(0)
	last, err := txn.Last(TableSteps, IndexBuildNumber+"_prefix", c.Buildid)
	if err != nil {
		return nil, err
	}
	if last != nil {
		number = last.(*messages.Step).Number + 1
	} else if archivedBuild(txn, c.Buildid) != nil {
		return nil, bad(kind, "build %d is finished and archived", c.Buildid)
	}
	id, err := seq.nextID(txn, TableSteps)
	if err != nil {
		return nil, err
	}
	if c.Results != nil {
		if err := checkResults(kind, c.GetResults()); err != nil {
			return nil, err
		}
		if c.CompleteAt <= 0 {
			return nil, bad(kind, "complete_at is required with results (epoch seconds, > 0)")
		}
	}
	name, err := stepName(txn, c.Buildid, c.Name)
	if err != nil {
		return nil, err
	}
	s := &messages.Step{Id: id, Number: number, Name: name, Buildid: c.Buildid, StartedAt: c.StartedAt, StateString: c.StateString}
	if c.Results != nil && len(c.LogNames) == 0 {
		s.Results, s.CompleteAt = proto.Int32(c.GetResults()), c.CompleteAt // finished as it is added
	}
	if err := txn.Insert(TableSteps, s); err != nil {
		return nil, err
	}
	res := &messages.CommandResult{Id: id, Number: number}
	if len(c.LogNames) > MaxIDs {
		return nil, bad(kind, "log_names has %d names, limit %d", len(c.LogNames), MaxIDs)
	}
	for _, n := range c.LogNames {
		l, err := applyAddLog(txn, seq, &messages.AddLog{Stepid: id, Name: n, Slug: n, Type: "s"})
		if err != nil {
			return nil, err
		}
		res.Ids = append(res.Ids, l.Id)
	}
	if c.Results != nil && s.Results == nil {
		if err := finishStep(txn, s, c.GetResults(), c.CompleteAt, ""); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// MaxStepNameBytes is the longest step name (Buildbot's steps.name).
const MaxStepNameBytes = 50

// stepName returns name, or, when build buildid has a step of that name
// already, the first of name_1, name_2 … it does not have, name cut (at a
// character) so that it stays within MaxStepNameBytes: three steps named
// stage are stage, stage_1, stage_2.
//
// The build's names are read from its steps (there is no index by name: a
// build has few steps, and an index entry costs every step of the history
// about 400 bytes of heap).
func stepName(txn *memdb.Txn, buildid uint64, name string) (string, error) {
	it, err := txn.Get(TableSteps, IndexBuildNumber+"_prefix", buildid)
	if err != nil {
		return "", err
	}
	var taken map[string]bool
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if taken == nil {
			taken = map[string]bool{}
		}
		taken[raw.(*messages.Step).Name] = true
	}
	for i, candidate := 1, name; ; i++ {
		if !taken[candidate] {
			return candidate, nil
		}
		suffix := "_" + strconv.Itoa(i)
		base := name
		for len(base)+len(suffix) > MaxStepNameBytes {
			_, size := utf8.DecodeLastRuneInString(base)
			base = base[:len(base)-size]
		}
		candidate = base + suffix
	}
}

// applyFinishStep finishes step stepid, and its logs, with results at
// complete_at, after appending append to one of its logs (a command of an
// earlier release) and setting what its logs' files hold (logs); next, when set,
// starts the build's next step in the same transaction. Its result is the step's id, then in
// ids the next step's id and its logs' ids.
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
	if err := setStepLogLines(txn, "finish_step", c.GetLogs(), func(stepid uint64) bool { return stepid == s.Id }); err != nil {
		return nil, err
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

// finishStep marks step s finished with results at time at, and its logs
// complete; a state that is not empty replaces its state string.
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
