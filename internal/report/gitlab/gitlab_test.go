package gitlab

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

const token = "glpat-s3cr3tT0ken"

func newStatus(t *testing.T, base string, c Config) *Status {
	t.Helper()
	c.BaseURL, c.Token = base, token
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStateMap(t *testing.T) {
	started := time.Unix(1, 0)
	for _, c := range []struct {
		b    report.Build
		want string
	}{
		{report.Build{}, "pending"},
		{report.Build{StartedAt: started}, "running"},
		{report.Build{Complete: true, Results: report.Success}, "success"},
		{report.Build{Complete: true, Results: report.Warnings}, "success"},
		{report.Build{Complete: true, Results: report.Skipped}, "success"},
		{report.Build{Complete: true, Results: report.Failure}, "failed"},
		{report.Build{Complete: true, Results: report.Exception}, "failed"},
		{report.Build{Complete: true, Results: report.Cancelled}, "canceled"},
		{report.Build{Complete: true, Results: report.Retry}, "pending"},
		{report.Build{Complete: true, Results: 42}, "failed"},
	} {
		if got := State(&c.b); got != c.want {
			t.Errorf("%+v: %q, want %q", c.b, got, c.want)
		}
	}
}

func TestRequests(t *testing.T) {
	fake := reportertest.NewFakeHTTP(t)
	s := newStatus(t, fake.URL+"/", Config{})
	for _, c := range []struct {
		r      *report.Report
		golden string
	}{
		{reportertest.Started(), "status_started.json"},
		{reportertest.Finished(), "status_finished.json"},
	} {
		if err := s.Send(context.Background(), c.r); err != nil {
			t.Fatal(err)
		}
		reqs := fake.Requests()
		req := reqs[len(reqs)-1]
		if req.Path != "/api/v4/projects/acme%2Fapp/statuses/0123456789abcdef0123456789abcdef01234567" {
			t.Errorf("path %s", req.Path)
		}
		if req.Header.Get("Private-Token") != token || req.Header.Get("Authorization") != "" {
			t.Errorf("headers %v", req.Header)
		}
		testkit.Golden(t, filepath.Join("testdata", c.golden), req.Body)
	}
}

func TestProjectAndRef(t *testing.T) {
	for _, c := range []struct {
		name  string
		ss    report.SourceStamp
		props map[string]string
		path  string
		ref   string
	}{
		{"subgroup over ssh", report.SourceStamp{Repository: "git@gitlab.example.org:group/sub/app.git", Branch: "main", Revision: "abc"},
			nil, "/api/v4/projects/group%2Fsub%2Fapp/statuses/abc", `"ref":"main"`},
		{"https", report.SourceStamp{Repository: "https://gitlab.com/g/app", Branch: "dev", Revision: "abc"},
			nil, "/api/v4/projects/g%2Fapp/statuses/abc", `"ref":"dev"`},
		{"merge request properties", report.SourceStamp{Repository: "https://gitlab.com/fork/app", Branch: "mr-1", Revision: "abc"},
			map[string]string{"source_project_id": `17`, "source_branch": `"feature"`}, "/api/v4/projects/17/statuses/abc", `"ref":"feature"`},
	} {
		fake := reportertest.NewFakeHTTP(t)
		r := reportertest.Finished()
		r.Build.SourceStamps = []report.SourceStamp{c.ss}
		for k, v := range c.props {
			r.Build.Properties[k] = report.Property{Value: []byte(v)}
		}
		if err := newStatus(t, fake.URL, Config{}).Send(context.Background(), r); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		req := fake.Requests()[0]
		if req.Path != c.path || !strings.Contains(string(req.Body), c.ref) {
			t.Errorf("%s: %s %s, want %s %s", c.name, req.Path, req.Body, c.path, c.ref)
		}
	}
}

func TestSkips(t *testing.T) {
	fake := reportertest.NewFakeHTTP(t)
	s := newStatus(t, fake.URL, Config{})
	noRev := reportertest.Finished()
	noRev.Build.SourceStamps[0].Revision = ""
	local := reportertest.Finished()
	local.Build.SourceStamps[0].Repository = "/srv/git/app"
	for name, r := range map[string]*report.Report{"no revision": noRev, "local repository": local, "worker": reportertest.WorkerMissing()} {
		if err := s.Send(context.Background(), r); !errors.Is(err, report.ErrSkipped) {
			t.Errorf("%s: %v, want skipped", name, err)
		}
	}
	if len(fake.Requests()) != 0 {
		t.Error("a skipped report was posted")
	}
	if _, err := New(Config{Context: "%(kw:x"}); err == nil {
		t.Error("a bad template accepted")
	}
}

func TestConformance(t *testing.T) {
	reportertest.RunHTTPConformance(t, reportertest.HTTPSender{
		New: func(t *testing.T, base string, now func() time.Time) report.Sender {
			return newStatus(t, base, Config{HTTP: report.HTTPOptions{Now: now}})
		},
		Report: reportertest.Finished(),
		Secret: token,
	})
}
