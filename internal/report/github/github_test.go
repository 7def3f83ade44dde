package github

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

const token = "ghp_s3cr3tT0ken"

func newStatus(t *testing.T, base string, c StatusConfig) *Status {
	t.Helper()
	c.BaseURL, c.Token = base, token
	s, err := NewStatus(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStateMap(t *testing.T) {
	for _, c := range []struct {
		complete bool
		res      report.Result
		want     string
	}{
		{false, 0, "pending"},
		{true, report.Success, "success"},
		{true, report.Warnings, "success"},
		{true, report.Skipped, "success"},
		{true, report.Failure, "failure"},
		{true, report.Exception, "error"},
		{true, report.Cancelled, "error"},
		{true, report.Retry, "pending"},
		{true, 99, "error"},
	} {
		if got := State(&report.Build{Complete: c.complete, Results: c.res}); got != c.want {
			t.Errorf("complete=%v %s: %q, want %q", c.complete, c.res, got, c.want)
		}
	}
}

// TestStatusRequests checks the request GitHub gets for a build's start
// and end: path, token header, and body (golden).
func TestStatusRequests(t *testing.T) {
	fake := reportertest.NewFakeHTTP(t)
	s := newStatus(t, fake.URL, StatusConfig{})
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
		if req.Method != "POST" || req.Path != "/repos/acme/app/statuses/0123456789abcdef0123456789abcdef01234567" {
			t.Errorf("%s %s", req.Method, req.Path)
		}
		if got := req.Header.Get("Authorization"); got != "token "+token {
			t.Errorf("Authorization %q", got)
		}
		if req.Header.Get("Content-Type") != "application/json" || req.Header.Get("User-Agent") == "" {
			t.Errorf("headers %v", req.Header)
		}
		testkit.Golden(t, filepath.Join("testdata", c.golden), req.Body)
	}
}

func TestStatusTemplates(t *testing.T) {
	fake := reportertest.NewFakeHTTP(t)
	s := newStatus(t, fake.URL+"/api/v3/", StatusConfig{
		Context:        "ci/%(prop:buildername)s on %(src::branch:-default)s",
		EndDescription: "%(kw:result)s: " + strings.Repeat("x", 200),
	})
	if err := s.Send(context.Background(), reportertest.Finished()); err != nil {
		t.Fatal(err)
	}
	req := fake.Requests()[0]
	if !strings.HasPrefix(req.Path, "/api/v3/repos/acme/app/statuses/") {
		t.Errorf("path %s does not keep the base URL's path", req.Path)
	}
	var body statusBody
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Context != "ci/app on refs/pull/12/merge" || !strings.HasPrefix(body.Description, "failure: xxx") ||
		utf8.RuneCountInString(body.Description) != maxDescription || !strings.HasSuffix(body.Description, "x…") {
		t.Errorf("body %+v", body)
	}
	if _, err := NewStatus(StatusConfig{Context: "%(prop:x"}); err == nil || !strings.Contains(err.Error(), "context") {
		t.Errorf("a bad context template: %v", err)
	}
	if _, err := NewStatus(StatusConfig{BaseURL: "api.github.com"}); err == nil {
		t.Error("a base URL without scheme accepted")
	}
}

// TestRepositoryForms: owner and repository come from the project when it
// is owner/repo, else from the repository URL in any of its forms.
func TestRepositoryForms(t *testing.T) {
	for _, c := range []struct {
		ss   report.SourceStamp
		path string
	}{
		{report.SourceStamp{Repository: "https://github.com/o/r"}, "/repos/o/r/statuses/abc"},
		{report.SourceStamp{Repository: "https://github.com/o/r.git"}, "/repos/o/r/statuses/abc"},
		{report.SourceStamp{Repository: "ssh://git@github.com/o/r.git"}, "/repos/o/r/statuses/abc"},
		{report.SourceStamp{Repository: "ssh://git@github.com:22/o/r"}, "/repos/o/r/statuses/abc"},
		{report.SourceStamp{Repository: "git@github.com:o/r.git"}, "/repos/o/r/statuses/abc"},
		{report.SourceStamp{Repository: "git@github.com:o/r"}, "/repos/o/r/statuses/abc"},
		{report.SourceStamp{Repository: "git://github.com/o/r"}, "/repos/o/r/statuses/abc"},
		{report.SourceStamp{Repository: "git@github.com:o/r.git", Project: "p/q"}, "/repos/p/q/statuses/abc"},
		{report.SourceStamp{Repository: "git@github.com:o/r.git", Project: "just-a-name"}, "/repos/o/r/statuses/abc"},
	} {
		fake := reportertest.NewFakeHTTP(t)
		r := reportertest.Finished()
		c.ss.Revision = "abc"
		r.Build.SourceStamps = []report.SourceStamp{c.ss}
		if err := newStatus(t, fake.URL, StatusConfig{}).Send(context.Background(), r); err != nil {
			t.Errorf("%+v: %v", c.ss, err)
			continue
		}
		if got := fake.Requests()[0].Path; got != c.path {
			t.Errorf("%+v: %s, want %s", c.ss, got, c.path)
		}
	}
}

func TestStatusPerSourceStamp(t *testing.T) {
	fake := reportertest.NewFakeHTTP(t)
	r := reportertest.Finished()
	r.Build.SourceStamps = []report.SourceStamp{
		{Codebase: "app", Repository: "git@github.com:acme/app.git", Revision: "aaa"},
		{Codebase: "docs", Repository: "git@github.com:acme/docs.git"}, // no revision: left out, as Buildbot
		{Codebase: "local", Repository: "/srv/git/x", Revision: "bbb"}, // not GitHub: left out
		{Codebase: "lib", Repository: "https://github.com/acme/lib", Revision: "ccc"},
	}
	if err := newStatus(t, fake.URL, StatusConfig{}).Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, req := range fake.Requests() {
		paths = append(paths, req.Path)
	}
	if strings.Join(paths, " ") != "/repos/acme/app/statuses/aaa /repos/acme/lib/statuses/ccc" {
		t.Errorf("requests %v", paths)
	}
}

func TestStatusSkips(t *testing.T) {
	fake := reportertest.NewFakeHTTP(t)
	s := newStatus(t, fake.URL, StatusConfig{})
	noRev := reportertest.Finished()
	noRev.Build.SourceStamps[0].Revision = ""
	for name, r := range map[string]*report.Report{
		"no revision":    noRev,
		"missing worker": reportertest.WorkerMissing(),
	} {
		if err := s.Send(context.Background(), r); !errors.Is(err, report.ErrSkipped) {
			t.Errorf("%s: %v, want ErrSkipped", name, err)
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests for skipped reports", n)
	}
}

func TestStatusConformance(t *testing.T) {
	reportertest.RunHTTPConformance(t, reportertest.HTTPSender{
		New: func(t *testing.T, base string, now func() time.Time) report.Sender {
			return newStatus(t, base, StatusConfig{HTTP: report.HTTPOptions{Now: now}})
		},
		Report: reportertest.Finished(),
		Secret: token,
	})
}

func TestPullRequest(t *testing.T) {
	for _, c := range []struct {
		branch, url string
		want        int
	}{
		{"refs/pull/12/merge", "", 12},
		{"refs/pull/7/head", "", 7},
		{"main", "", 0},
		{"refs/pull//merge", "", 0},
		{"refs/pull/x/merge", "", 0},
		{"", "https://github.com/o/r/pull/34", 34},
		{"main", "https://github.com/o/r/pull/34/", 34},
		{"", "https://github.com/o/r/issues/34", 0},
	} {
		b := &report.Build{Properties: map[string]report.Property{}}
		if c.branch != "" {
			b.Properties["branch"] = report.Property{Value: []byte(`"` + c.branch + `"`)}
		}
		if c.url != "" {
			b.Properties["pullrequesturl"] = report.Property{Value: []byte(`"` + c.url + `"`)}
		}
		if got := PullRequest(b); got != c.want {
			t.Errorf("branch %q url %q: %d, want %d", c.branch, c.url, got, c.want)
		}
	}
}

func newComment(t *testing.T, base string, c CommentConfig) *Comment {
	t.Helper()
	c.BaseURL, c.Token = base, token
	cm, err := NewComment(c)
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func TestComment(t *testing.T) {
	fake := reportertest.NewFakeHTTP(t)
	cm := newComment(t, fake.URL, CommentConfig{EndBody: "Build %(kw:number)s of %(prop:buildername)s: %(kw:result)s. %(kw:url)s"})
	if err := cm.Send(context.Background(), reportertest.Started()); !errors.Is(err, report.ErrSkipped) {
		t.Errorf("start: %v, want skipped (no start comment by default)", err)
	}
	if err := cm.Send(context.Background(), reportertest.Finished()); err != nil {
		t.Fatal(err)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/repos/acme/app/issues/12/comments" || reqs[0].Header.Get("Authorization") != "token "+token {
		t.Fatalf("requests %+v", reqs)
	}
	testkit.Golden(t, filepath.Join("testdata", "comment_finished.json"), reqs[0].Body)

	notPR := reportertest.Finished()
	notPR.Build.Properties["branch"] = report.Property{Value: []byte(`"main"`)}
	if err := cm.Send(context.Background(), notPR); !errors.Is(err, report.ErrSkipped) {
		t.Errorf("not a PR: %v, want skipped", err)
	}
	if len(fake.Requests()) != 1 {
		t.Error("a skipped comment was posted")
	}
}

func TestCommentConformance(t *testing.T) {
	reportertest.RunHTTPConformance(t, reportertest.HTTPSender{
		New: func(t *testing.T, base string, now func() time.Time) report.Sender {
			return newComment(t, base, CommentConfig{HTTP: report.HTTPOptions{Now: now}})
		},
		Report: reportertest.Finished(),
		Secret: token,
	})
}

// BenchmarkDecideAndBody is the per-report cost before the network: the
// generators' decision and the status body.
func BenchmarkDecideAndBody(b *testing.B) {
	s, err := NewStatus(StatusConfig{Token: token})
	if err != nil {
		b.Fatal(err)
	}
	r := reportertest.Finished()
	gens := DefaultGenerators()
	b.ReportAllocs()
	for b.Loop() {
		if !report.Wanted(gens, r) {
			b.Fatal("not wanted")
		}
		if _, err := s.Body(r); err != nil {
			b.Fatal(err)
		}
	}
}
