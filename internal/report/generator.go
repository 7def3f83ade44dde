package report

import (
	"errors"
	"fmt"
	"slices"
)

// Generator decides whether a reporter wants a report, as Buildbot's
// report generators do. A reporter with several generators sends a report
// once when any of them wants it (Buildbot would send once per generator,
// each with its own formatter).
type Generator interface {
	Want(r *Report) bool
	// Validate reports a configuration Buildbot would refuse.
	Validate() error
}

// Wanted reports whether any generator wants r.
func Wanted(gens []Generator, r *Report) bool {
	for _, g := range gens {
		if g.Want(r) {
			return true
		}
	}
	return false
}

// Mode selects finished builds by result (Buildbot's generator modes).
type Mode string

// Buildbot's modes; "all" is a shorthand (see ParseMode).
const (
	// ModeChange: the result differs from the previous build's.
	ModeChange Mode = "change"
	// ModeFailing: FAILURE.
	ModeFailing Mode = "failing"
	// ModePassing: SUCCESS.
	ModePassing Mode = "passing"
	// ModeProblem: FAILURE after a previous build that was not FAILURE.
	ModeProblem Mode = "problem"
	// ModeWarnings: WARNINGS.
	ModeWarnings Mode = "warnings"
	// ModeException: EXCEPTION.
	ModeException Mode = "exception"
	// ModeCancelled: CANCELLED.
	ModeCancelled Mode = "cancelled"
)

var knownModes = []Mode{ModeChange, ModeFailing, ModePassing, ModeProblem, ModeWarnings, ModeException, ModeCancelled}

// DefaultModes are Buildbot's default: failing, passing, warnings.
func DefaultModes() []Mode { return []Mode{ModeFailing, ModePassing, ModeWarnings} }

// ParseMode reads a mode given as one string, with Buildbot's shorthands:
// "all" is failing, passing, warnings, exception and cancelled (not change
// nor problem); "warnings" alone is failing and warnings.
func ParseMode(s string) ([]Mode, error) {
	switch s {
	case "all":
		return []Mode{ModeFailing, ModePassing, ModeWarnings, ModeException, ModeCancelled}, nil
	case string(ModeWarnings):
		return []Mode{ModeFailing, ModeWarnings}, nil
	}
	return ParseModes([]string{s})
}

// ParseModes reads a list of modes; each stands for itself, and "all" is
// refused in a list, as Buildbot does.
func ParseModes(list []string) ([]Mode, error) {
	out := make([]Mode, 0, len(list))
	for i, s := range list {
		switch {
		case s == "all":
			return nil, fmt.Errorf("mode[%d]: 'all' is not valid in a list; give it alone as mode: all", i)
		case !slices.Contains(knownModes, Mode(s)):
			return nil, fmt.Errorf("mode[%d]: unknown mode %q (want all, change, failing, passing, problem, warnings, exception or cancelled)", i, s)
		}
		out = append(out, Mode(s))
	}
	return out, nil
}

// Filter selects builds by builder, tag, scheduler and branch. An empty
// list does not filter (Buildbot's None); Buildbot would match nothing on
// an empty list, which is never what a config means.
type Filter struct {
	Builders []string `json:"builders,omitempty"`
	// Tags: the builder has any of them.
	Tags []string `json:"tags,omitempty"`
	// Schedulers: the build's "scheduler" property is one of them.
	Schedulers []string `json:"schedulers,omitempty"`
	// Branches: the build's "branch" property is one of them.
	Branches []string `json:"branches,omitempty"`
}

// Validate refuses builders and tags together, as Buildbot does.
func (f Filter) Validate() error {
	if len(f.Builders) > 0 && len(f.Tags) > 0 {
		return errors.New("give builders or tags to select builds, not both")
	}
	return nil
}

// Match reports whether the build passes the filter.
func (f Filter) Match(b *Build) bool {
	if b == nil {
		return false
	}
	if len(f.Builders) > 0 && !slices.Contains(f.Builders, b.BuilderName) {
		return false
	}
	if len(f.Schedulers) > 0 && !slices.Contains(f.Schedulers, b.PropertyString("scheduler")) {
		return false
	}
	if len(f.Branches) > 0 && !slices.Contains(f.Branches, b.PropertyString("branch")) {
		return false
	}
	if len(f.Tags) > 0 && !slices.ContainsFunc(f.Tags, func(t string) bool { return slices.Contains(b.Tags, t) }) {
		return false
	}
	return true
}

// BuildStatusGenerator is Buildbot's BuildStatusGenerator: a finished build
// that passes the filter and whose result one of the modes selects; with
// ReportStart (Buildbot's report_new), also every start of a build that
// passes the filter.
type BuildStatusGenerator struct {
	// Modes; empty means DefaultModes.
	Modes       []Mode `json:"modes,omitempty"`
	Filter      Filter `json:"filter"`
	ReportStart bool   `json:"report_start,omitempty"`
}

// Validate checks the filter and the modes.
func (g BuildStatusGenerator) Validate() error {
	for i, m := range g.Modes {
		if !slices.Contains(knownModes, m) {
			return fmt.Errorf("mode[%d]: unknown mode %q", i, m)
		}
	}
	return g.Filter.Validate()
}

// Want implements Generator.
func (g BuildStatusGenerator) Want(r *Report) bool {
	switch r.Event {
	case EventBuildStarted:
		return g.ReportStart && g.Filter.Match(r.Build)
	case EventBuildFinished:
		return g.Filter.Match(r.Build) && ModesSelect(g.modes(), r.Build)
	}
	return false
}

func (g BuildStatusGenerator) modes() []Mode {
	if len(g.Modes) == 0 {
		return DefaultModes()
	}
	return g.Modes
}

// ModesSelect reports whether any mode selects the finished build
// (Buildbot's is_message_needed_by_results).
func ModesSelect(modes []Mode, b *Build) bool {
	prev := b.Previous
	for _, m := range modes {
		switch m {
		case ModeChange:
			if prev != nil && prev.Results != b.Results {
				return true
			}
		case ModeFailing:
			if b.Results == Failure {
				return true
			}
		case ModePassing:
			if b.Results == Success {
				return true
			}
		case ModeProblem:
			if b.Results == Failure && prev != nil && prev.Results != Failure {
				return true
			}
		case ModeWarnings:
			if b.Results == Warnings {
				return true
			}
		case ModeException:
			if b.Results == Exception {
				return true
			}
		case ModeCancelled:
			if b.Results == Cancelled {
				return true
			}
		}
	}
	return false
}

// BuildStartEndGenerator is Buildbot's BuildStartEndStatusGenerator: the
// start and the end of every build that passes the filter, whatever its
// result (so a commit status never stays pending, even after RETRY or
// SKIPPED).
type BuildStartEndGenerator struct {
	Filter Filter `json:"filter"`
}

// Validate checks the filter.
func (g BuildStartEndGenerator) Validate() error { return g.Filter.Validate() }

// Want implements Generator.
func (g BuildStartEndGenerator) Want(r *Report) bool {
	return (r.Event == EventBuildStarted || r.Event == EventBuildFinished) && g.Filter.Match(r.Build)
}

// WorkerMissingGenerator is Buildbot's WorkerMissingGenerator: a missing
// worker among Workers (empty: all) that has addresses to notify.
type WorkerMissingGenerator struct {
	Workers []string `json:"workers,omitempty"`
}

// Validate implements Generator; every configuration is valid.
func (g WorkerMissingGenerator) Validate() error { return nil }

// Want implements Generator.
func (g WorkerMissingGenerator) Want(r *Report) bool {
	if r.Event != EventWorkerMissing || r.Worker == nil || len(r.Worker.Notify) == 0 {
		return false
	}
	return len(g.Workers) == 0 || slices.Contains(g.Workers, r.Worker.Name)
}
