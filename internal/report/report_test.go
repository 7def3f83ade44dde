package report_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/buildmaster/buildmaster/internal/interpolate"
	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestReportJSON: a report survives JSON (an outbox stores it so), and
// its encoding is stable (golden).
func TestReportJSON(t *testing.T) {
	for name, r := range map[string]*report.Report{
		"finished": reportertest.Finished(), "started": reportertest.Started(), "worker": reportertest.WorkerMissing(),
	} {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back report.Report
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&back, r) {
			t.Errorf("%s: round trip differs:\n%+v\n%+v", name, back.Build, r.Build)
		}
		if name == "finished" {
			testkit.Golden(t, filepath.Join("testdata", "report_finished.json"), data)
		}
	}
}

func TestValues(t *testing.T) {
	r := reportertest.Finished()
	r.Build.SourceStamps = append(r.Build.SourceStamps, report.SourceStamp{Codebase: "lib", Revision: "fff", Branch: "dev"})
	for in, want := range map[string]string{
		"%(prop:buildername)s/%(prop:buildnumber)s":       "app/7",
		"%(src::revision)s %(src::project)s":              "0123456789abcdef0123456789abcdef01234567 acme/app",
		"%(src:lib:branch)s %(src:lib:repository:~none)s": "dev none",
		"%(src:lib:patch:-no such attribute)s":            "no such attribute",
		"%(kw:result)s %(kw:number)s %(kw:event)s":        "failure 7 build_finished",
		"%(kw:worker)s %(kw:url)s":                        "w1 http://ci.example.org/#builders/3/builds/7",
	} {
		if got := interpolate.MustParse(in).Render(report.Values(r)); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	if got := interpolate.MustParse("%(kw:result)s").Render(report.Values(reportertest.Started())); got != "running" {
		t.Errorf("result of a running build: %q", got)
	}
	w := reportertest.WorkerMissing()
	if got := interpolate.MustParse("%(kw:worker)s %(prop:x:-none)s").Render(report.Values(w)); got != "w1 none" {
		t.Errorf("worker report: %q", got)
	}
	b := &report.Build{Properties: map[string]report.Property{"n": {Value: []byte("null")}, "i": {Value: []byte("3")}}}
	if b.PropertyString("n") != "" || b.PropertyString("i") != "3" || b.PropertyString("missing") != "" {
		t.Error("PropertyString")
	}
	if report.Result(9).String() != "result 9" || report.Cancelled.String() != "cancelled" {
		t.Error("Result.String")
	}
}
