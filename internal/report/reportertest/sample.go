package reportertest

import (
	"encoding/json"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
)

// Finished returns a failed build of builder "app" on a GitHub pull
// request, with two changes, a failing step whose log has characters HTML
// must escape, and a previous successful build. Each call returns a fresh
// copy.
func Finished() *report.Report {
	started := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	return &report.Report{Event: report.EventBuildFinished, Build: &report.Build{
		BuildID: 42, Number: 7, BuilderID: 3, BuilderName: "app", Tags: []string{"linux"},
		Complete: true, Results: report.Failure, StateString: "failed test",
		StartedAt: started, CompleteAt: started.Add(95 * time.Second),
		URL:        "http://ci.example.org/#builders/3/builds/7",
		WorkerName: "w1",
		Properties: props(map[string]any{
			"buildername": "app", "branch": "refs/pull/12/merge", "scheduler": "on-push",
			"got_revision": "0123456789abcdef0123456789abcdef01234567", "reason": "pull request",
			"workername": "w1", "buildnumber": 7, "owner": "carol@example.org",
		}),
		SourceStamps: []report.SourceStamp{{
			Repository: "https://github.com/acme/app.git", Branch: "refs/pull/12/merge",
			Revision: "0123456789abcdef0123456789abcdef01234567", Project: "acme/app",
		}},
		Changes: []report.Change{
			{ChangeID: 5, Author: "Alice <alice@example.org>", Revision: "0123456789abcdef0123456789abcdef01234567",
				Branch: "refs/pull/12/merge", Repository: "https://github.com/acme/app.git", Comments: "fix the thing"},
			{ChangeID: 6, Author: "bob", AuthorEmail: "bob@example.org", Revision: "89abcdef0123456789abcdef0123456789abcdef",
				Branch: "refs/pull/12/merge", Repository: "https://github.com/acme/app.git", Comments: "and the other"},
		},
		Steps: []report.Step{
			{Number: 0, Name: "worker_preparation", Results: report.Success, StateString: "worker ready"},
			{Number: 1, Name: "git", Results: report.Success, StateString: "update"},
			{Number: 2, Name: "test", Results: report.Failure, StateString: "failed test"},
		},
		FailedStep: &report.FailedStep{Number: 2, Name: "test", Results: report.Failure, LogName: "stdio",
			LogURL:  "http://ci.example.org/#builders/3/builds/7/steps/2/logs/stdio",
			LogTail: []string{"=== RUN   TestWidget", `    widget_test.go:12: got <b>"a & b"</b>, want <script>x</script>`, "--- FAIL: TestWidget (0.00s)", "FAIL"}},
		Previous: &report.PreviousBuild{Number: 6, Results: report.Success},
	}}
}

// Started returns the start of the build Finished describes.
func Started() *report.Report {
	r := Finished()
	b := r.Build
	r.Event = report.EventBuildStarted
	b.Complete, b.Results, b.StateString, b.CompleteAt = false, 0, "building", time.Time{}
	b.Steps, b.FailedStep, b.Previous = nil, nil, nil
	return r
}

// WorkerMissing returns a missing-worker report for w1.
func WorkerMissing() *report.Report {
	return &report.Report{Event: report.EventWorkerMissing, Worker: &report.Worker{
		Name: "w1", Notify: []string{"ops@example.org", "Dana <dana@example.org>"},
		LastConnection: time.Date(2024, 5, 6, 6, 0, 0, 0, time.UTC), Admin: "Ops <ops@example.org>",
	}}
}

func props(m map[string]any) map[string]report.Property {
	out := make(map[string]report.Property, len(m))
	for k, v := range m {
		raw, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out[k] = report.Property{Value: raw, Source: "test"}
	}
	return out
}
