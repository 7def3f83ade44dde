// Package report owns what reporters are told about a build and when they
// are told: the Report model (a build or a missing worker, as plain data the
// caller fills from state), the generators that decide whether a report is
// wanted (Buildbot's BuildStatusGenerator, BuildStartEndStatusGenerator and
// WorkerMissingGenerator), the repository URL parser, the typed errors every
// client returns (SendError, ErrSkipped) with the retry policy that reads
// them, and the HTTP poster the HTTP clients share.
//
// It is pure: no actors, no state, no clock of its own. A Report is plain
// JSON-serialisable data, so an outbox can store it as it is; the clients
// (report/github, report/gitlab, report/httppush, report/mail) take one
// Report per Send.
package report

import (
	"encoding/json"
	"time"
)

// Event is what a report is about.
type Event string

// The events reporters are told about.
const (
	// EventBuildStarted: a build was started (Buildbot's ('builds', id, 'new')).
	EventBuildStarted Event = "build_started"
	// EventBuildFinished: a build completed (('builds', id, 'finished')).
	EventBuildFinished Event = "build_finished"
	// EventWorkerMissing: a worker stayed away past its missing_timeout
	// (('workers', id, 'missing')).
	EventWorkerMissing Event = "worker_missing"
)

// Report is one thing to report: a build event (Build set) or a missing
// worker (Worker set).
type Report struct {
	Event  Event   `json:"event"`
	Build  *Build  `json:"build,omitempty"`
	Worker *Worker `json:"worker,omitempty"`
}

// Build describes a build for reporters.
type Build struct {
	BuildID     uint64   `json:"buildid"`
	Number      int32    `json:"number"`
	BuilderID   uint64   `json:"builderid"`
	BuilderName string   `json:"builder_name"`
	Tags        []string `json:"tags,omitempty"`
	// Complete is false for a build that is running (EventBuildStarted).
	Complete bool `json:"complete"`
	// Results is meaningful only when Complete.
	Results     Result    `json:"results"`
	StateString string    `json:"state_string"`
	StartedAt   time.Time `json:"started_at"`
	CompleteAt  time.Time `json:"complete_at,omitzero"`
	// URL is the build's page: buildbotURL + "#builders/ID/builds/N".
	URL        string `json:"url"`
	WorkerName string `json:"worker_name"`
	// Properties are the build's properties by name (buildername,
	// branch, scheduler, owner, got_revision …).
	Properties   map[string]Property `json:"properties,omitempty"`
	SourceStamps []SourceStamp       `json:"sourcestamps,omitempty"`
	Changes      []Change            `json:"changes,omitempty"`
	Steps        []Step              `json:"steps,omitempty"`
	// FailedStep is the first step that failed, with the tail of its log;
	// nil when no step failed.
	FailedStep *FailedStep `json:"failed_step,omitempty"`
	// Previous is the previous build of the same builder with a result
	// other than RETRY (Buildbot's getPreviousBuild); nil when none. The
	// `change` and `problem` modes need it.
	Previous *PreviousBuild `json:"previous,omitempty"`
}

// Property is a property's JSON value and where it came from.
type Property struct {
	Value  json.RawMessage `json:"value"`
	Source string          `json:"source"`
}

// SourceStamp is one codebase of what was built.
type SourceStamp struct {
	Codebase   string `json:"codebase"`
	Repository string `json:"repository"`
	Branch     string `json:"branch"`
	Revision   string `json:"revision"`
	Project    string `json:"project"`
}

// Change is one change in the build, with its author.
type Change struct {
	ChangeID uint64 `json:"changeid"`
	// Author is as the change source gave it ("Jane <jane@example.org>",
	// or a login).
	Author string `json:"author"`
	// AuthorEmail is the author's address from the users table; empty when
	// the caller knows none (mail then tries Author itself).
	AuthorEmail string    `json:"author_email,omitempty"`
	Revision    string    `json:"revision"`
	Branch      string    `json:"branch"`
	Repository  string    `json:"repository"`
	Comments    string    `json:"comments"`
	When        time.Time `json:"when,omitzero"`
}

// Step is a step of the build, for listings.
type Step struct {
	Number      int32  `json:"number"`
	Name        string `json:"name"`
	Results     Result `json:"results"`
	StateString string `json:"state_string"`
}

// FailedStep is the failing step and the last lines of its log.
type FailedStep struct {
	// StepID is the step's id in the state, for reading its log.
	StepID  uint64   `json:"stepid,omitempty"`
	Number  int32    `json:"number"`
	Name    string   `json:"name"`
	Results Result   `json:"results"`
	LogName string   `json:"log_name"`
	LogURL  string   `json:"log_url,omitempty"`
	LogTail []string `json:"log_tail,omitempty"`
}

// PreviousBuild is what the generators need of the previous build.
type PreviousBuild struct {
	Number  int32  `json:"number"`
	Results Result `json:"results"`
}

// Worker describes a missing worker.
type Worker struct {
	Name string `json:"name"`
	// Notify are the addresses of the worker's notify_on_missing.
	Notify         []string  `json:"notify,omitempty"`
	LastConnection time.Time `json:"last_connection,omitzero"`
	// Admin is what the worker reported as its admin, if anything.
	Admin string `json:"admin,omitempty"`
}

// PropertyString returns a property as text: a JSON string as itself,
// null as "", anything else as its JSON; "" when unset.
func (b *Build) PropertyString(name string) string {
	p, ok := b.Properties[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(p.Value, &s) == nil {
		return s
	}
	if string(p.Value) == "null" {
		return ""
	}
	return string(p.Value)
}
