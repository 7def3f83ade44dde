package reporters_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// buildIDs reads the build ids of the http_push requests a target got.
func buildIDs(t *testing.T, f *reportertest.FakeHTTP) []uint64 {
	t.Helper()
	var out []uint64
	for _, r := range f.Requests() {
		var b struct {
			BuildID uint64 `json:"buildid"`
		}
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.BuildID)
	}
	return out
}

// TestReconfigReporters: reporters added, removed and changed by a reconfig.
// A removed reporter's actor stops and its pending reports are dropped with
// its outbox (as a Buildbot reporter taken out of the config reports
// nothing more; put back, it does not flood its target with old reports);
// a changed one keeps its outbox and sends what was pending with its new
// config (a send hanging at the old URL is cancelled and made again at the
// new one); one whose type changes is replaced, on the same outbox; an
// added one reports the builds from then on; an unchanged one is left
// alone, and every report reaches its target once.
func TestReconfigReporters(t *testing.T) {
	keep, gone, oldURL, newURL, added, retyped := reportertest.NewFakeHTTP(t), reportertest.NewFakeHTTP(t),
		reportertest.NewFakeHTTP(t), reportertest.NewFakeHTTP(t), reportertest.NewFakeHTTP(t), reportertest.NewFakeHTTP(t)
	gone.Queue(reportertest.Answer{Status: 503})
	oldURL.Queue(reportertest.Answer{Hang: true})
	const opts = "mode: [all], report_start: false"
	e := start(t, fmt.Sprintf(`  - {name: keep, type: http_push, url: %q, %s}
  - {name: gone, type: http_push, url: %q, %s, retry_initial: 1h}
  - {name: chg, type: http_push, url: %q, %s, timeout: 1h}
  - {name: retype, type: http_push, url: %q, %s}
`, keep.URL, opts, gone.URL, opts, oldURL.URL, opts, retyped.URL, opts))
	first := e.build("app", "a1", state.ResultSuccess)
	second := e.build("app", "a2", state.ResultFailure)
	testkit.Recv(t, "gone's first try", gone.Arrived())
	testkit.Recv(t, "chg's send hanging", oldURL.Arrived())
	e.drained("keep")
	e.drained("retype")
	testkit.Eventually(t, "gone failed once", func() bool { return e.state("gone").GetFailed() == 1 })
	if row := state.ReporterRow(e.m.RT.DB.Read(), "gone"); row.Pending != 2 {
		t.Fatalf("gone has %d reports pending, want 2", row.Pending)
	}

	cfg := proto.CloneOf(e.m.RT.Config())
	cfg.Reporters = slices.DeleteFunc(cfg.Reporters, func(r *messages.ReporterConfig) bool { return r.Name == "gone" })
	for _, r := range cfg.Reporters {
		switch r.Name {
		case "chg":
			r.Url = newURL.URL
		case "retype":
			r.Type, r.Url, r.BaseUrl = "github_status", "", retyped.URL
		}
	}
	cfg.Reporters = append(cfg.Reporters, &messages.ReporterConfig{Name: "added", Type: "http_push", Url: added.URL,
		Mode: []string{"all"}, ReportStart: new(false)})
	res, err := ask.Ask[*messages.ReconfigureResponse](context.Background(), e.m.RT.System.Root, e.m.PID,
		&messages.ReconfigureRequest{Token: mastertest.Token, Config: cfg})
	if err != nil || !res.GetOk() {
		t.Fatalf("reconfig: %v %v", res, err)
	}
	changes := map[string]messages.ChangeKind{}
	for _, c := range res.GetChanges() {
		changes[c.GetPath()] = c.GetKind()
	}
	for name, want := range map[string]messages.ChangeKind{
		"gone": messages.ChangeKind_CHANGE_KIND_REMOVED, "chg": messages.ChangeKind_CHANGE_KIND_CHANGED,
		"retype": messages.ChangeKind_CHANGE_KIND_REPLACED, "added": messages.ChangeKind_CHANGE_KIND_ADDED,
	} {
		if got := changes[paths.Reporter(name)]; got != want {
			t.Errorf("%s: %v, want %v (changes %v)", name, got, want, res.GetChanges())
		}
	}
	if _, ok := changes[paths.Reporter("keep")]; ok {
		t.Errorf("keep was touched: %v", res.GetChanges())
	}
	// The master records the new reporters in the state after it answers.
	testkit.Eventually(t, "the reconfig recorded", func() bool { return state.ReporterRow(e.m.RT.DB.Read(), "added") != nil })
	third := e.build("app", "a3", state.ResultSuccess)
	e.drained("chg")
	e.drained("added")
	e.drained("keep")
	e.drained("retype")
	testkit.Eventually(t, "gone's actor stopped", func() bool { return e.m.RT.Tree.Lookup(paths.Reporter("gone")) == nil })
	if state.ReporterRow(e.m.RT.DB.Read(), "gone") != nil || slices.Collect(state.Outbox(e.m.RT.DB.Read(), "gone", 0)) != nil {
		t.Error("gone's row or outbox is still in the state")
	}
	for name, c := range map[string]struct {
		f    *reportertest.FakeHTTP
		want []uint64
	}{
		"keep": {keep, []uint64{first, second, third}}, "gone": {gone, []uint64{first}},
		"chg at its old URL": {oldURL, []uint64{first}}, "chg at its new URL": {newURL, []uint64{first, second, third}},
		"added": {added, []uint64{third}}, "retype": {retyped, []uint64{first, second, 0}},
	} {
		if got := buildIDs(t, c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s got the reports of builds %v, want %v", name, got, c.want)
		}
	}
	if reqs := retyped.Requests(); len(reqs) != 3 || reqs[2].Path != "/repos/o/r/statuses/a3" {
		t.Errorf("retype, now github_status, did not send build 3's status last: %v", reqs)
	}
}
