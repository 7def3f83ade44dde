package httppush

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

const password = "pa55-w0rd-s3cret"

func newClient(t testing.TB, url string, c Config) *Client {
	t.Helper()
	c.URL = url
	cl, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestPush(t *testing.T) {
	fake := reportertest.NewFakeHTTP(t)
	c := newClient(t, fake.URL+"/hook?via=ci", Config{Headers: map[string]string{"X-Hook-Token": "tok-123456"}, Username: "ci", Password: password})
	for _, r := range []struct {
		r      *report.Report
		golden string
	}{
		{reportertest.Started(), "started.json"},
		{reportertest.Finished(), "finished.json"},
	} {
		if err := c.Send(context.Background(), r.r); err != nil {
			t.Fatal(err)
		}
		reqs := fake.Requests()
		req := reqs[len(reqs)-1]
		if req.Method != "POST" || req.Path != "/hook" || req.Header.Get("X-Hook-Token") != "tok-123456" ||
			req.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("ci:"+password)) {
			t.Errorf("request %s %s %v", req.Method, req.Path, req.Header)
		}
		var indented strings.Builder
		var v any
		if err := json.Unmarshal(req.Body, &v); err != nil {
			t.Fatal(err)
		}
		enc := json.NewEncoder(&indented)
		enc.SetIndent("", "  ")
		enc.Encode(v)
		testkit.Golden(t, filepath.Join("testdata", r.golden), []byte(indented.String()))
	}
	if err := c.Send(context.Background(), reportertest.WorkerMissing()); !errors.Is(err, report.ErrSkipped) {
		t.Errorf("worker report: %v, want skipped", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{URL: "ci.example.org/hook"},
		{URL: "ftp://ci.example.org/hook"},
		{URL: "https://ci.example.org/hook", Headers: map[string]string{"X-A": "b\r\nX-Injected: 1"}},
		{URL: "https://ci.example.org/hook", Headers: map[string]string{"": "b"}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	_, err := New(Config{URL: "https://user:" + password + "@ci.example.org:bad/"})
	reportertest.NoSecret(t, err, password)
}

func TestConformance(t *testing.T) {
	reportertest.RunHTTPConformance(t, reportertest.HTTPSender{
		New: func(t *testing.T, base string, now func() time.Time) report.Sender {
			return newClient(t, base+"/hook", Config{Username: "ci", Password: password, HTTP: report.HTTPOptions{Now: now}})
		},
		Report: reportertest.Finished(),
		Secret: password,
	})
}

// BenchmarkDecideAndBody is the per-report cost before the network: the
// generator's decision and the JSON body.
func BenchmarkDecideAndBody(b *testing.B) {
	r := reportertest.Finished()
	gens := DefaultGenerators()
	b.ReportAllocs()
	for b.Loop() {
		if !report.Wanted(gens, r) {
			b.Fatal("not wanted")
		}
		if _, err := Body(r); err != nil {
			b.Fatal(err)
		}
	}
}
