package mq

import (
	"fmt"
	"slices"
	"strconv"
)

// A Kind is the kind of record a state change is about, named after
// Buildbot's data API resource types.
type Kind int

// The kinds of Change.
const (
	KindUnspecified Kind = iota
	Changes              // a change arrived: new
	Buildsets            // new, complete
	BuildRequests        // new, claimed, unclaimed, complete; cancel
	Builds               // new, update, finished
	BuildProperties      // update (the message holds only the new properties)
	Steps                // new, started, updated, finished
	Logs                 // new, append, finished
	Builders             // update, started, stopped
	Workers              // connected, disconnected, missing, state_updated
	Masters              // started, stopped
	Schedulers           // updated
	TestResultSets       // new, completed
)

var kindNames = [...]string{Changes: "changes", Buildsets: "buildsets", BuildRequests: "buildrequests",
	Builds: "builds", BuildProperties: "build properties", Steps: "steps", Logs: "logs", Builders: "builders",
	Workers: "workers", Masters: "masters", Schedulers: "schedulers", TestResultSets: "test_result_sets"}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// A Change names one state change as Buildbot's data API announces it:
// its kind, the event, the record's own id and the ids of the records its
// keys go through. Fields a kind's keys do not use are ignored.
type Change struct {
	Kind  Kind
	Event string // "new", "finished", … (see the Kind constants)
	ID    uint64 // the record's id: buildid, stepid, logid, brid, bsid, changeid, …

	BuilderID  uint64 // builds, buildrequests; and the Class of steps and logs
	Number     uint64 // builds: the build's number in its builder
	WorkerID   uint64 // builds: 0 leaves out the workers/… key
	BuildsetID uint64 // buildrequests
	BuildID    uint64 // steps
	StepID     uint64 // logs
	Slug       string // logs
}

// Class is the authorization class of the change's events:
// "builders/BUILDERID" for the kinds that belong to a builder's builds
// (build requests, builds and their properties, steps, logs, test result
// sets) when BuilderID is set, "" otherwise. A viewer who may not see a
// builder's builds gets no event of its class.
func (c Change) Class() string {
	if c.BuilderID == 0 || !routes[c.Kind].ofBuilder {
		return ""
	}
	return "builders/" + strconv.FormatUint(c.BuilderID, 10)
}

// field names a Change field a key segment is taken from.
type field int

const (
	lit field = iota // the segment is part.text
	fID
	fBuilder
	fNumber
	fWorker
	fBuildset
	fBuild
	fStep
	fSlug
)

var fieldNames = [...]string{fID: "ID", fBuilder: "BuilderID", fNumber: "Number", fWorker: "WorkerID",
	fBuildset: "BuildsetID", fBuild: "BuildID", fStep: "StepID", fSlug: "Slug"}

type part struct {
	f    field
	text string
}

// A pattern is one key form, the event appended. optional names a field
// whose absence (zero) leaves the form out instead of being an error.
type pattern struct {
	parts    []part
	optional field
}

// A rule gives the key forms of some events of a kind, in the order
// Buildbot publishes them.
type rule struct {
	events   []string
	patterns []pattern
}

func p(parts ...part) pattern { return pattern{parts: parts} }
func l(s string) part         { return part{text: s} }
func v(f field) part          { return part{f: f} }

// kindRoutes are the rules of one kind; ofBuilder marks the kinds whose
// events belong to a builder's builds (see Change.Class).
type kindRoutes struct {
	rules     []rule
	ofBuilder bool
}

// routes is the table of Buildbot 3.7's routing keys (data/*.py
// eventPathPatterns, and the keys produced by hand: builders
// started/stopped, buildrequests cancel, build properties).
var routes = map[Kind]kindRoutes{
	Changes:   {rules: []rule{{[]string{"new"}, []pattern{p(l("changes"), v(fID))}}}},
	Buildsets: {rules: []rule{{[]string{"new", "complete"}, []pattern{p(l("buildsets"), v(fID))}}}},
	BuildRequests: {ofBuilder: true, rules: []rule{
		{[]string{"new", "claimed", "unclaimed", "complete"}, []pattern{
			p(l("buildsets"), v(fBuildset), l("builders"), v(fBuilder), l("buildrequests"), v(fID)),
			p(l("buildrequests"), v(fID)),
			p(l("builders"), v(fBuilder), l("buildrequests"), v(fID)),
		}},
		{[]string{"cancel"}, []pattern{p(l("buildrequests"), v(fID))}},
	}},
	Builds: {ofBuilder: true, rules: []rule{{[]string{"new", "update", "finished"}, []pattern{
		p(l("builders"), v(fBuilder), l("builds"), v(fNumber)),
		p(l("builds"), v(fID)),
		{parts: []part{l("workers"), v(fWorker), l("builds"), v(fID)}, optional: fWorker},
	}}}},
	BuildProperties: {ofBuilder: true, rules: []rule{{[]string{"update"}, []pattern{p(l("builds"), v(fID), l("properties"))}}}},
	Steps: {ofBuilder: true, rules: []rule{{[]string{"new", "started", "updated", "finished"}, []pattern{
		p(l("builds"), v(fBuild), l("steps"), v(fID)),
		p(l("steps"), v(fID)),
	}}}},
	Logs: {ofBuilder: true, rules: []rule{{[]string{"new", "append", "finished"}, []pattern{
		p(l("logs"), v(fID)),
		p(l("steps"), v(fStep), l("logs"), v(fSlug)),
	}}}},
	Builders:       {rules: []rule{{[]string{"update", "started", "stopped"}, []pattern{p(l("builders"), v(fID))}}}},
	Workers:        {rules: []rule{{[]string{"connected", "disconnected", "missing", "state_updated"}, []pattern{p(l("workers"), v(fID))}}}},
	Masters:        {rules: []rule{{[]string{"started", "stopped"}, []pattern{p(l("masters"), v(fID))}}}},
	Schedulers:     {rules: []rule{{[]string{"updated"}, []pattern{p(l("schedulers"), v(fID))}}}},
	TestResultSets: {ofBuilder: true, rules: []rule{{[]string{"new", "completed"}, []pattern{p(l("test_result_sets"), v(fID))}}}},
}

// Keys returns every routing key Buildbot publishes for c, in Buildbot's
// order: a build finishing gives builders/BID/builds/NUMBER/finished,
// builds/ID/finished and workers/WID/builds/ID/finished. An unknown kind
// or event, or a missing id, is an error naming it.
func Keys(c Change) ([]Key, error) {
	kr, ok := routes[c.Kind]
	rules := kr.rules
	if !ok {
		return nil, fmt.Errorf("routing keys: unknown kind %v", c.Kind)
	}
	var r *rule
	for i := range rules {
		if slices.Contains(rules[i].events, c.Event) {
			r = &rules[i]
		}
	}
	if r == nil {
		var known []string
		for _, r := range rules {
			known = append(known, r.events...)
		}
		return nil, fmt.Errorf("routing keys: %v has no event %q (known: %v)", c.Kind, c.Event, known)
	}
	keys := make([]Key, 0, len(r.patterns))
	for _, pat := range r.patterns {
		if pat.optional != lit && c.value(pat.optional) == "" {
			continue
		}
		k := make(Key, 0, len(pat.parts)+1)
		for _, pt := range pat.parts {
			if pt.f == lit {
				k = append(k, pt.text)
				continue
			}
			s := c.value(pt.f)
			if s == "" {
				return nil, fmt.Errorf("routing keys: %v %s: key %s/… needs %s", c.Kind, c.Event, pat.parts[0].text, fieldNames[pt.f])
			}
			k = append(k, s)
		}
		k = append(k, c.Event)
		if err := k.Check(); err != nil {
			return nil, fmt.Errorf("routing keys: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// value is the segment for f, "" when the field is not set.
func (c Change) value(f field) string {
	var n uint64
	switch f {
	case fSlug:
		return c.Slug
	case fID:
		n = c.ID
	case fBuilder:
		n = c.BuilderID
	case fNumber:
		n = c.Number
	case fWorker:
		n = c.WorkerID
	case fBuildset:
		n = c.BuildsetID
	case fBuild:
		n = c.BuildID
	case fStep:
		n = c.StepID
	}
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

// PublishChange publishes body under every key of c (Keys), in order,
// with c's Class: one call per state change from the db side. A bad
// change or body publishes nothing.
func (b *Bus) PublishChange(c Change, body []byte) error {
	keys, err := Keys(c)
	if err != nil {
		return err
	}
	body, err = compactJSON(body)
	if err != nil {
		return fmt.Errorf("publish %v %s: %w", c.Kind, c.Event, err)
	}
	class := c.Class()
	for _, k := range keys {
		if err := b.publish(k, class, body); err != nil {
			return err
		}
	}
	return nil
}
