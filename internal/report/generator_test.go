package report

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func finished(res Result, prev *Result) *Report {
	b := &Build{BuilderName: "app", Complete: true, Results: res}
	if prev != nil {
		b.Previous = &PreviousBuild{Number: 1, Results: *prev}
	}
	return &Report{Event: EventBuildFinished, Build: b}
}

func res(r Result) *Result { return &r }

// TestModes follows Buildbot 3.7's is_message_needed_by_results
// (reporters/generators/utils.py).
func TestModes(t *testing.T) {
	for _, c := range []struct {
		name  string
		mode  string // one string, as Buildbot's mode="…"
		build *Report
		want  bool
	}{
		{"failing: failure", "failing", finished(Failure, nil), true},
		{"failing: success", "failing", finished(Success, nil), false},
		{"failing: exception", "failing", finished(Exception, nil), false},
		{"passing: success", "passing", finished(Success, nil), true},
		{"passing: warnings", "passing", finished(Warnings, nil), false},
		{"passing: skipped", "passing", finished(Skipped, nil), false},
		{"warnings alone is failing+warnings: warnings", "warnings", finished(Warnings, nil), true},
		{"warnings alone is failing+warnings: failure", "warnings", finished(Failure, nil), true},
		{"warnings alone: success", "warnings", finished(Success, nil), false},
		{"exception: exception", "exception", finished(Exception, nil), true},
		{"exception: failure", "exception", finished(Failure, nil), false},
		{"cancelled: cancelled", "cancelled", finished(Cancelled, nil), true},
		{"cancelled: exception", "cancelled", finished(Exception, nil), false},
		{"change: no previous build", "change", finished(Failure, nil), false},
		{"change: same as previous", "change", finished(Failure, res(Failure)), false},
		{"change: failure after success", "change", finished(Failure, res(Success)), true},
		{"change: success after failure", "change", finished(Success, res(Failure)), true},
		{"change: warnings after success", "change", finished(Warnings, res(Success)), true},
		{"problem: failure after success", "problem", finished(Failure, res(Success)), true},
		{"problem: failure after exception", "problem", finished(Failure, res(Exception)), true},
		{"problem: failure after failure", "problem", finished(Failure, res(Failure)), false},
		{"problem: failure, no previous", "problem", finished(Failure, nil), false},
		{"problem: exception after success", "problem", finished(Exception, res(Success)), false},
		{"problem: success after failure", "problem", finished(Success, res(Failure)), false},
		{"all: success", "all", finished(Success, nil), true},
		{"all: warnings", "all", finished(Warnings, nil), true},
		{"all: failure", "all", finished(Failure, nil), true},
		{"all: exception", "all", finished(Exception, nil), true},
		{"all: cancelled", "all", finished(Cancelled, nil), true},
		{"all: skipped", "all", finished(Skipped, nil), false},
		{"all: retry", "all", finished(Retry, nil), false},
		{"all excludes change", "all", finished(Skipped, res(Success)), false},
	} {
		modes, err := ParseMode(c.mode)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		g := BuildStatusGenerator{Modes: modes}
		if got := g.Want(c.build); got != c.want {
			t.Errorf("%s: Want = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDefaultModes(t *testing.T) {
	g := BuildStatusGenerator{}
	for r, want := range map[Result]bool{Success: true, Warnings: true, Failure: true, Skipped: false,
		Exception: false, Retry: false, Cancelled: false} {
		if got := g.Want(finished(r, nil)); got != want {
			t.Errorf("default modes, %s: %v, want %v", r, got, want)
		}
	}
	if g.Want(&Report{Event: EventBuildStarted, Build: &Build{BuilderName: "app"}}) {
		t.Error("a build start wanted without ReportStart")
	}
	g.ReportStart = true
	if !g.Want(&Report{Event: EventBuildStarted, Build: &Build{BuilderName: "app"}}) {
		t.Error("a build start not wanted with ReportStart")
	}
	if g.Want(&Report{Event: EventWorkerMissing, Worker: &Worker{Name: "w", Notify: []string{"a@b.c"}}}) {
		t.Error("a build generator wants a missing worker")
	}
}

func TestParseModes(t *testing.T) {
	for _, c := range []struct {
		list []string
		want []Mode
		err  string
	}{
		{[]string{"failing", "passing"}, []Mode{ModeFailing, ModePassing}, ""},
		{[]string{"warnings"}, []Mode{ModeWarnings}, ""},
		{[]string{"change", "problem"}, []Mode{ModeChange, ModeProblem}, ""},
		{[]string{"failing", "all"}, nil, "mode[1]: 'all' is not valid in a list"},
		{[]string{"failng"}, nil, `mode[0]: unknown mode "failng"`},
	} {
		got, err := ParseModes(c.list)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: error %v, want %q", c.list, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%v: %v, %v; want %v", c.list, got, err, c.want)
		}
	}
	if _, err := ParseMode("sometimes"); err == nil {
		t.Error("ParseMode accepted an unknown mode")
	}
}

func build(name string, tags []string, props map[string]string) *Build {
	b := &Build{BuilderName: name, Tags: tags, Complete: true, Results: Success, Properties: map[string]Property{}}
	for k, v := range props {
		raw, _ := json.Marshal(v)
		b.Properties[k] = Property{Value: raw, Source: "test"}
	}
	return b
}

func TestFilters(t *testing.T) {
	app := build("app", []string{"linux", "fast"}, map[string]string{"branch": "main", "scheduler": "on-push"})
	lib := build("lib", nil, map[string]string{"branch": "dev"})
	for _, c := range []struct {
		name   string
		filter Filter
		b      *Build
		want   bool
	}{
		{"no filter", Filter{}, app, true},
		{"builder listed", Filter{Builders: []string{"lib", "app"}}, app, true},
		{"builder not listed", Filter{Builders: []string{"lib"}}, app, false},
		{"any tag", Filter{Tags: []string{"windows", "fast"}}, app, true},
		{"no tag matches", Filter{Tags: []string{"windows"}}, app, false},
		{"builder without tags", Filter{Tags: []string{"linux"}}, lib, false},
		{"scheduler", Filter{Schedulers: []string{"on-push"}}, app, true},
		{"other scheduler", Filter{Schedulers: []string{"nightly"}}, app, false},
		{"no scheduler property", Filter{Schedulers: []string{"on-push"}}, lib, false},
		{"branch", Filter{Branches: []string{"main", "release"}}, app, true},
		{"other branch", Filter{Branches: []string{"main"}}, lib, false},
		{"all filters at once", Filter{Builders: []string{"app"}, Schedulers: []string{"on-push"}, Branches: []string{"main"}}, app, true},
		{"all but one", Filter{Builders: []string{"app"}, Schedulers: []string{"on-push"}, Branches: []string{"dev"}}, app, false},
	} {
		for _, g := range []Generator{
			BuildStatusGenerator{Filter: c.filter},
			BuildStartEndGenerator{Filter: c.filter},
		} {
			if got := g.Want(&Report{Event: EventBuildFinished, Build: c.b}); got != c.want {
				t.Errorf("%s (%T): Want = %v, want %v", c.name, g, got, c.want)
			}
		}
	}
	if err := (Filter{Builders: []string{"a"}, Tags: []string{"t"}}).Validate(); err == nil {
		t.Error("builders and tags together accepted")
	}
	if err := (BuildStatusGenerator{Modes: []Mode{"often"}}).Validate(); err == nil {
		t.Error("an unknown mode accepted")
	}
}

// TestStartEnd: Buildbot's BuildStartEndStatusGenerator reports every
// start and end, whatever the result.
func TestStartEnd(t *testing.T) {
	g := BuildStartEndGenerator{}
	for _, r := range []Result{Success, Failure, Skipped, Retry, Cancelled, Exception, Warnings} {
		if !g.Want(finished(r, nil)) {
			t.Errorf("%s end not wanted", r)
		}
	}
	if !g.Want(&Report{Event: EventBuildStarted, Build: &Build{BuilderName: "x"}}) {
		t.Error("start not wanted")
	}
	if g.Want(&Report{Event: EventWorkerMissing, Worker: &Worker{Name: "w", Notify: []string{"a@b.c"}}}) {
		t.Error("missing worker wanted by a build generator")
	}
}

func TestWorkerMissingGenerator(t *testing.T) {
	missing := func(name string, notify ...string) *Report {
		return &Report{Event: EventWorkerMissing, Worker: &Worker{Name: name, Notify: notify}}
	}
	for _, c := range []struct {
		name string
		g    WorkerMissingGenerator
		r    *Report
		want bool
	}{
		{"all workers", WorkerMissingGenerator{}, missing("w1", "ops@example.org"), true},
		{"listed", WorkerMissingGenerator{Workers: []string{"w1"}}, missing("w1", "ops@example.org"), true},
		{"not listed", WorkerMissingGenerator{Workers: []string{"w2"}}, missing("w1", "ops@example.org"), false},
		{"nobody to notify", WorkerMissingGenerator{}, missing("w1"), false},
		{"a build", WorkerMissingGenerator{}, finished(Failure, nil), false},
	} {
		if got := c.g.Want(c.r); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if !Wanted([]Generator{BuildStatusGenerator{}, WorkerMissingGenerator{}}, missing("w", "a@b.c")) {
		t.Error("Wanted: no generator wants what one of them wants")
	}
}
