package reporters_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/actors/reporters"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// builders are the builders of the test masters; no worker ever connects,
// so the builds are the ones the tests write through db.
const builders = `
workers: [{name: w1}]
builders:
  - {name: app, tags: [fast], workers: [w1], steps: [{shell: {command: [true]}}]}
  - {name: docs, workers: [w1], steps: [{shell: {command: [true]}}]}
`

// env is a running master with reporters, and the builds a test writes.
type env struct {
	t     *testing.T
	m     *master.Master
	clock atomic.Int64
}

func start(t *testing.T, reportersYAML string) *env {
	t.Helper()
	e := &env{t: t, m: mastertest.Start(t, builders+"reporters:\n"+reportersYAML, "", nil)}
	e.clock.Store(time.Now().Unix())
	testkit.Eventually(t, "the reporters in the state", func() bool {
		return len(state.Reporters(e.m.RT.DB.Read())) == strings.Count(reportersYAML, "name:")
	})
	return e
}

func (e *env) call(k *messages.Command) *messages.CommandResult {
	e.t.Helper()
	res, err := db.Call(context.Background(), e.m.RT.System, k)
	if err != nil {
		e.t.Fatalf("%v: %v", k, err)
	}
	return res
}

// build writes a build of builder on revision rev of github.com/o/r that
// starts and ends with results, and returns its id.
func (e *env) build(builder, rev string, results int32) uint64 {
	e.t.Helper()
	now := e.clock.Add(10)
	bs := e.call(&messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
		Reason: "test", SubmittedAt: now, BuilderNames: []string{builder},
		Sourcestamps: []*messages.SourceStamp{{Repository: "https://github.com/o/r.git", Branch: "main", Revision: rev}}}}})
	brid := bs.GetIds()[0]
	bl := state.First(e.m.RT.DB.Read(), state.TableBuilders, state.IndexName, builder).(*messages.Builder)
	b := e.call(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
		Builderid: bl.Id, Buildrequestid: brid, Masterid: e.m.RT.MasterID, StartedAt: now + 1, WorkerName: "w1",
		ClaimBrids: []uint64{brid}, Properties: []*messages.Property{
			{Name: "buildername", ValueJson: strconv.Quote(builder), Source: "Builder"}, {Name: "branch", ValueJson: `"main"`, Source: "test"}}}}})
	e.call(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
		Buildid: b.GetId(), Results: results, CompleteAt: now + 2, Brids: []uint64{brid}}}})
	return b.GetId()
}

// drained waits until reporter's outbox is empty.
func (e *env) drained(reporter string) {
	e.t.Helper()
	testkit.Eventually(e.t, reporter+"'s outbox drained", func() bool {
		row := state.ReporterRow(e.m.RT.DB.Read(), reporter)
		return row != nil && row.Pending == 0
	})
}

func (e *env) state(reporter string) *messages.ReporterState {
	for _, st := range reporters.States(e.m.RT) {
		if st.Name == reporter {
			return st
		}
	}
	return nil
}

type status struct{ SHA, State, Context string }

// statuses reads the commit statuses in requests to a fake GitHub.
func statuses(t *testing.T, reqs []reportertest.Request) []status {
	t.Helper()
	var out []status
	for _, r := range reqs {
		var body struct{ State, Context string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("%s %s: %v", r.Method, r.Path, err)
		}
		sha, ok := strings.CutPrefix(r.Path, "/repos/o/r/statuses/")
		if !ok || r.Method != "POST" {
			t.Fatalf("request %s %s is not a commit status of o/r", r.Method, r.Path)
		}
		out = append(out, status{sha, body.State, body.Context})
	}
	return out
}

// GitHub answers 503 to the first five statuses, then takes them: every
// status arrives once, in the order of the builds, and nothing is left.
func TestGitHubDownThenBack(t *testing.T) {
	gh := reportertest.NewFakeHTTP(t)
	for range 5 {
		gh.Queue(reportertest.Answer{Status: 503, Body: "down"})
	}
	e := start(t, fmt.Sprintf(`  - {name: gh, type: github_status, base_url: %q, token: t0ken, retry_initial: 5ms, retry_max: 20ms}
`, gh.URL))
	e.build("app", "aaa", state.ResultSuccess)
	e.build("docs", "aaa", state.ResultFailure)
	e.build("app", "bbb", state.ResultException)
	e.drained("gh")

	reqs := gh.Requests()
	if len(reqs) != 11 {
		t.Fatalf("%d requests, want 5 refused and 6 statuses", len(reqs))
	}
	got := statuses(t, reqs[5:])
	want := []status{
		{"aaa", "pending", "buildbot/app"}, {"aaa", "success", "buildbot/app"},
		{"aaa", "pending", "buildbot/docs"}, {"aaa", "failure", "buildbot/docs"},
		{"bbb", "pending", "buildbot/app"}, {"bbb", "error", "buildbot/app"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("statuses delivered:\n%v\nwant\n%v", got, want)
	}
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "token t0ken" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
	}
	if n := testutil.ToFloat64(e.m.RT.Stats.ReportsSent.WithLabelValues("gh")); n != 6 {
		t.Errorf("reports sent = %v, want 6", n)
	}
	if n := testutil.ToFloat64(e.m.RT.Stats.ReportsFailed.WithLabelValues("gh", "retry")); n != 5 {
		t.Errorf("reports failed for a retry = %v, want 5", n)
	}
	st := e.state("gh")
	if st == nil || st.Sent != 6 || st.Failed != 5 || st.LastSuccess == nil || !strings.Contains(st.LastError, "status 503") ||
		strings.Contains(st.LastError, "t0ken") {
		t.Errorf("reporter state %v", st)
	}
}

// A 403 with Retry-After is waited out, however short the backoff.
func TestRetryAfterIsHonoured(t *testing.T) {
	gh := reportertest.NewFakeHTTP(t)
	gh.Queue(reportertest.Answer{Status: 403, Header: map[string]string{"Retry-After": "1"}, Body: `{"message":"secondary rate limit"}`})
	e := start(t, fmt.Sprintf(`  - {name: gh, type: github_status, base_url: %q, retry_initial: 1ms, mode: [passing], report_start: false}
`, gh.URL))
	e.build("app", "aaa", state.ResultSuccess)
	testkit.Eventually(t, "a retry planned", func() bool { st := e.state("gh"); return st != nil && st.RetryAt != nil })
	st := e.state("gh")
	if wait := st.RetryAt.AsTime().Sub(st.LastErrorAt.AsTime()); wait < 900*time.Millisecond {
		t.Errorf("retry planned %s after the 403, want at least Retry-After's 1s", wait)
	}
	e.drained("gh")
	if got := statuses(t, gh.Requests()); len(got) != 2 || got[1] != (status{"aaa", "success", "buildbot/app"}) {
		t.Errorf("statuses %v", got)
	}
}

// Modes and filters pick the builds each reporter is told about; a
// permanent refusal is dropped, not retried.
func TestModesAndFilters(t *testing.T) {
	hooks := map[string]*reportertest.FakeHTTP{}
	var cfg strings.Builder
	for _, r := range []struct{ name, rest string }{
		{"failing", "mode: [failing], builders: [app], report_start: false"},
		{"problem", "mode: [problem], tags: [fast], report_start: false"},
		{"all", "mode: [all], report_start: false"},
		{"change", "mode: [change, exception], report_start: false"},
		{"passing", "mode: [passing], report_start: false"},
		{"warnings", "mode: [warnings], report_start: false"},
		{"exception", "mode: [exception], report_start: false"},
		{"cancelled", "mode: [cancelled], report_start: false"},
		{"docs", "mode: [all], builders: [docs], report_start: false"},
		{"default", "branches: [main]"},
		{"other", "branches: [release]"},
	} {
		hooks[r.name] = reportertest.NewFakeHTTP(t)
		fmt.Fprintf(&cfg, "  - {name: %s, type: http_push, url: %q, %s}\n", r.name, hooks[r.name].URL+"/hook", r.rest)
	}
	e := start(t, cfg.String())
	ids := []uint64{
		e.build("app", "a1", state.ResultSuccess),
		e.build("app", "a2", state.ResultFailure),
		e.build("app", "a3", state.ResultFailure),
		e.build("docs", "d1", state.ResultFailure),
		e.build("app", "a4", state.ResultWarnings),
		e.build("app", "a5", state.ResultException),
		e.build("docs", "d2", state.ResultCancelled),
	}
	for name := range hooks {
		e.drained(name)
	}
	type event struct {
		build uint64
		end   bool
	}
	ends := func(is ...int) []event {
		var out []event
		for _, i := range is {
			out = append(out, event{ids[i], true})
		}
		return out
	}
	var startEnd []event
	for i, id := range ids {
		startEnd = append(startEnd, event{id, false})
		if i != 5 && i != 6 { // default modes: failing, passing, warnings
			startEnd = append(startEnd, event{id, true})
		}
	}
	for name, want := range map[string][]event{
		"failing":   ends(1, 2),
		"problem":   ends(1),
		"all":       ends(0, 1, 2, 3, 4, 5, 6),
		"change":    ends(1, 4, 5, 6),
		"passing":   ends(0),
		"warnings":  ends(4),
		"exception": ends(5),
		"cancelled": ends(6),
		"docs":      ends(3, 6),
		"default":   startEnd,
		"other":     nil,
	} {
		var got []event
		for _, r := range hooks[name].Requests() {
			var b struct {
				BuildID  uint64 `json:"buildid"`
				Complete bool   `json:"complete"`
			}
			if err := json.Unmarshal(r.Body, &b); err != nil {
				t.Fatal(err)
			}
			got = append(got, event{b.BuildID, b.Complete})
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s got %v, want %v", name, got, want)
		}
	}
}

// A target refusing for good (422) drops the report at once, with an error;
// the next report goes through.
func TestPermanentFailureIsDropped(t *testing.T) {
	hook := reportertest.NewFakeHTTP(t)
	hook.Queue(reportertest.Answer{Status: 422, Body: "no"})
	e := start(t, fmt.Sprintf("  - {name: h, type: http_push, url: %q, mode: [all], report_start: false}\n", hook.URL))
	e.build("app", "a1", state.ResultSuccess)
	e.build("app", "a2", state.ResultSuccess)
	e.drained("h")
	testkit.Eventually(t, "both reports tried", func() bool { return len(hook.Requests()) == 2 })
	if n := testutil.ToFloat64(e.m.RT.Stats.ReportsFailed.WithLabelValues("h", "dropped")); n != 1 {
		t.Errorf("dropped = %v, want 1", n)
	}
}

// A target that hangs holds its reporter only: the other reporter delivers
// every report meanwhile, and builds go on finishing.
func TestHangingTargetHoldsNoOne(t *testing.T) {
	hang, ok := reportertest.NewFakeHTTP(t), reportertest.NewFakeHTTP(t)
	hang.Queue(reportertest.Answer{Hang: true})
	e := start(t, fmt.Sprintf(`  - {name: hang, type: http_push, url: %q, mode: [all], report_start: false, timeout: 1h}
  - {name: ok, type: http_push, url: %q, mode: [all], report_start: false}
`, hang.URL, ok.URL))
	e.build("app", "a1", state.ResultSuccess)
	testkit.Recv(t, "the request that hangs", hang.Arrived())
	for i := range 5 {
		e.build("app", fmt.Sprintf("b%d", i), state.ResultSuccess)
	}
	e.drained("ok")
	if n := len(ok.Requests()); n != 6 {
		t.Errorf("ok got %d reports, want 6", n)
	}
	if row := state.ReporterRow(e.m.RT.DB.Read(), "hang"); row.Pending != 6 || len(hang.Requests()) != 1 {
		t.Errorf("hang: %d pending, %d requests; want 6 and 1", row.Pending, len(hang.Requests()))
	}
}

// Mail goes to a real SMTP server, one message per finished build.
func TestMailReachesSMTP(t *testing.T) {
	smtp := reportertest.NewFakeSMTP(t, reportertest.SMTPOptions{NoSTARTTLS: true})
	e := start(t, fmt.Sprintf("  - {name: mail, type: mail, from: 'ci@example.org', relay: %q, tls: none, extra_recipients: [team@example.org]}\n", smtp.Addr))
	e.build("app", "a1", state.ResultFailure)
	m := testkit.Recv(t, "the mail", smtp.Mails())
	if m.From != "ci@example.org" || !slices.Equal(m.To, []string{"team@example.org"}) || !strings.Contains(string(m.Data), "app") {
		t.Errorf("mail from %s to %v:\n%s", m.From, m.To, m.Data)
	}
	e.drained("mail")
}
