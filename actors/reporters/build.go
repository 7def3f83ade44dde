package reporters

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// readReport reads from the state the report an outbox entry is due: a
// build's (buildReport) or a missing worker's (workerReport). ok is false
// when its build or worker is gone.
func readReport(txn *memdb.Txn, e *messages.OutboxEntry, wwwURL string) (r *report.Report, ok bool) {
	if e.Worker != nil {
		return workerReport(txn, e)
	}
	return buildReport(txn, e, wwwURL)
}

// workerReport is the notice of a missing worker: its name and admin (as
// it last told) from the workers table, the addresses and last connection
// the entry holds.
func workerReport(txn *memdb.Txn, e *messages.OutboxEntry) (*report.Report, bool) {
	w, _ := state.Lookup(txn, state.TableWorkers, e.Worker.Workerid).(*messages.Worker)
	if w == nil {
		return nil, false
	}
	rw := &report.Worker{Name: w.Name, Notify: e.Worker.Notify}
	if t := e.Worker.LastConnection; t > 0 {
		rw.LastConnection = time.Unix(t, 0).UTC()
	}
	var info struct {
		Admin string `json:"admin"`
	}
	if json.Unmarshal([]byte(w.InfoJson), &info) == nil {
		rw.Admin = info.Admin
	}
	return &report.Report{Event: report.Event(e.Event), Worker: rw}, true
}

// buildReport reads from the state the report an outbox entry is due: the
// build as it was at the event (a start is reported running, whatever the
// build has become since), its builder, worker, properties, source stamps,
// changes, steps, first failed step and previous build. ok is false when
// the build is gone.
func buildReport(txn *memdb.Txn, e *messages.OutboxEntry, wwwURL string) (r *report.Report, ok bool) {
	b, _ := state.Lookup(txn, state.TableBuilds, e.Buildid).(*messages.Build)
	if b == nil {
		return nil, false
	}
	rb := &report.Build{BuildID: b.Id, Number: b.Number, BuilderID: b.Builderid, StateString: b.StateString,
		StartedAt: time.Unix(b.StartedAt, 0).UTC(), Properties: map[string]report.Property{}}
	if e.Event == string(report.EventBuildFinished) && b.Results != nil {
		rb.Complete, rb.Results = true, report.Result(b.GetResults())
		rb.CompleteAt = time.Unix(b.CompleteAt, 0).UTC()
	} else {
		rb.StateString = "building"
	}
	if wwwURL != "" {
		rb.URL = fmt.Sprintf("%s/#/builders/%d/builds/%d", wwwURL, b.Builderid, b.Number)
	}
	if bl, _ := state.Lookup(txn, state.TableBuilders, b.Builderid).(*messages.Builder); bl != nil {
		rb.BuilderName, rb.Tags = bl.Name, bl.Tags
	}
	if w, _ := state.Lookup(txn, state.TableWorkers, b.Workerid).(*messages.Worker); w != nil {
		rb.WorkerName = w.Name
	}
	for _, p := range b.Properties {
		rb.Properties[p.Name] = report.Property{Value: []byte(p.ValueJson), Source: p.Source}
	}
	sourceStamps(txn, b, rb)
	if rb.Complete {
		steps(txn, b, rb)
		rb.Previous = previous(txn, b)
	}
	return &report.Report{Event: report.Event(e.Event), Build: rb}, true
}

// sourceStamps adds the build's source stamps (its buildset's) and their changes.
func sourceStamps(txn *memdb.Txn, b *messages.Build, rb *report.Build) {
	br, _ := state.Lookup(txn, state.TableBuildRequests, b.Buildrequestid).(*messages.BuildRequest)
	if br == nil {
		return
	}
	bs, _ := state.Lookup(txn, state.TableBuildsets, br.Buildsetid).(*messages.Buildset)
	if bs == nil {
		return
	}
	for _, id := range bs.SourcestampIds {
		ss, _ := state.Lookup(txn, state.TableSourceStamps, id).(*messages.SourceStamp)
		if ss == nil {
			continue
		}
		rb.SourceStamps = append(rb.SourceStamps, report.SourceStamp{Codebase: ss.Codebase, Repository: ss.Repository,
			Branch: ss.Branch, Revision: ss.Revision, Project: ss.Project})
		for row := range state.ScanIndex(txn, state.TableChanges, state.IndexChangeSourceStamp, false, ss.Id) {
			c := row.(*messages.Change)
			rb.Changes = append(rb.Changes, report.Change{ChangeID: c.Changeid, Author: c.Author, AuthorEmail: authorEmail(txn, c.Changeid),
				Revision: c.Revision, Branch: c.Branch, Repository: c.Repository, Comments: c.Comments,
				When: time.Unix(c.WhenTimestamp, 0).UTC()})
		}
	}
}

// authorEmail is the address of change changeid's author from the users
// table (Buildbot's users_info, attribute email), or "".
func authorEmail(txn *memdb.Txn, changeid uint64) string {
	for row := range state.ScanIndex(txn, state.TableChangeUsers, state.IndexID+"_prefix", false, changeid) {
		if email := state.UserAttrs(txn, row.(*messages.ChangeUser).Uid)["email"]; email != "" {
			return email
		}
	}
	return ""
}

// steps adds the build's steps and its first failed step.
func steps(txn *memdb.Txn, b *messages.Build, rb *report.Build) {
	for row := range state.ScanIndex(txn, state.TableSteps, state.IndexBuildNumber+"_prefix", false, b.Id) {
		s := row.(*messages.Step)
		if s.Hidden {
			continue
		}
		res := report.Result(s.GetResults())
		rb.Steps = append(rb.Steps, report.Step{Number: s.Number, Name: s.Name, Results: res, StateString: s.StateString})
		if rb.FailedStep == nil && s.Results != nil && res == report.Failure {
			rb.FailedStep = &report.FailedStep{StepID: s.Id, Number: s.Number, Name: s.Name, Results: res}
		}
	}
}

// previous is the builder's build before b that did not end RETRY.
func previous(txn *memdb.Txn, b *messages.Build) *report.PreviousBuild {
	for row := range state.ScanIndex(txn, state.TableBuilds, state.IndexBuilderNumber+"_prefix", true, b.Builderid) {
		p := row.(*messages.Build)
		if p.Number >= b.Number || p.Results == nil || p.GetResults() == state.ResultRetry {
			continue
		}
		return &report.PreviousBuild{Number: p.Number, Results: report.Result(p.GetResults())}
	}
	return nil
}
