package report_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
)

// postSender is the smallest sender on HTTPPoster: the conformance suite
// checks the poster itself.
type postSender struct {
	poster *report.HTTPPoster
	base   string
	secret string
}

func (s postSender) Send(ctx context.Context, _ *report.Report) error {
	u, err := report.JoinURL(s.base, "hook")
	if err != nil {
		return err
	}
	return s.poster.PostJSON(ctx, u, http.Header{"Authorization": {"token " + s.secret}}, []byte(`{}`), s.secret)
}

func TestHTTPPosterConformance(t *testing.T) {
	reportertest.RunHTTPConformance(t, reportertest.HTTPSender{
		New: func(t *testing.T, base string, now func() time.Time) report.Sender {
			return postSender{poster: report.NewHTTPPoster(report.HTTPOptions{Now: now}), base: base, secret: "s3cr3t-token"}
		},
		Report: &report.Report{Event: report.EventBuildFinished},
		Secret: "s3cr3t-token",
	})
}

// TestHTTPPosterTimeout: a target that never answers costs at most the
// poster's timeout.
func TestHTTPPosterTimeout(t *testing.T) {
	fake := reportertest.NewFakeHTTP(t)
	fake.Queue(reportertest.Answer{Hang: true})
	s := postSender{poster: report.NewHTTPPoster(report.HTTPOptions{Timeout: 50 * time.Millisecond}), base: fake.URL}
	err := s.Send(context.Background(), nil)
	if retry, _ := report.RetryInfo(err); !retry {
		t.Fatalf("Send = %v, want a retryable timeout", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name string
		h    map[string]string
		want time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "30"}, 30 * time.Second},
		{"negative seconds", map[string]string{"Retry-After": "-5"}, 0},
		{"date", map[string]string{"Retry-After": now.Add(2 * time.Minute).Format(http.TimeFormat)}, 2 * time.Minute},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"huge", map[string]string{"Retry-After": "99999999999999999"}, 365 * 24 * time.Hour},
		{"rate limit reset", map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(now.Add(10 * time.Minute).Unix())}, 10 * time.Minute},
		{"reset without exhaustion", map[string]string{"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": fmt.Sprint(now.Add(10 * time.Minute).Unix())}, 0},
		{"longer of both", map[string]string{"Retry-After": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(now.Add(10 * time.Minute).Unix())}, 10 * time.Minute},
	} {
		h := http.Header{}
		for k, v := range c.h {
			h.Set(k, v)
		}
		if got := report.RetryAfter(h, now); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	first := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	half := func() float64 { return 0.5 }
	p := report.RetryPolicy{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: 0.5, Lifetime: time.Hour, Rand: half}
	retryable := &report.SendError{Target: "t", Retryable: true}
	for _, c := range []struct {
		name     string
		p        report.RetryPolicy
		err      error
		attempts int
		now      time.Time
		retry    bool
		at       time.Time
	}{
		{"first backoff, jittered to 3/4", p, retryable, 1, first, true, first.Add(750 * time.Millisecond)},
		{"third backoff", p, retryable, 3, first, true, first.Add(3 * time.Second)},
		{"capped at Max", p, retryable, 30, first, true, first.Add(45 * time.Second)},
		{"no jitter", report.RetryPolicy{Initial: time.Second, Jitter: -1, Rand: half}, retryable, 2, first, true, first.Add(2 * time.Second)},
		{"jitter 1 with rand 0 is the full backoff", report.RetryPolicy{Initial: time.Second, Jitter: 1, Rand: func() float64 { return 0 }}, retryable, 1, first, true, first.Add(time.Second)},
		{"target's wait beats the backoff", p, &report.SendError{Retryable: true, RetryAfter: 10 * time.Minute}, 1, first, true, first.Add(10 * time.Minute)},
		{"backoff beats a shorter wait", p, &report.SendError{Retryable: true, RetryAfter: time.Millisecond}, 3, first, true, first.Add(3 * time.Second)},
		{"past the lifetime: dropped", p, retryable, 5, first.Add(59*time.Minute + 59*time.Second), false, time.Time{}},
		{"wait past the lifetime: dropped", p, &report.SendError{Retryable: true, RetryAfter: 2 * time.Hour}, 1, first, false, time.Time{}},
		{"permanent: dropped", p, &report.SendError{Status: 404}, 1, first, false, time.Time{}},
		{"skipped: dropped", p, report.Skipf("no revision"), 1, first, false, time.Time{}},
		{"unknown error: retried", p, errors.New("client bug"), 1, first, true, first.Add(750 * time.Millisecond)},
		{"defaults", report.RetryPolicy{Rand: half}, retryable, 1, first, true, first.Add(3750 * time.Millisecond)},
		{"default lifetime is a day", report.RetryPolicy{Rand: half}, retryable, 1, first.Add(24 * time.Hour), false, time.Time{}},
	} {
		d := c.p.Next(c.err, c.attempts, first, c.now)
		if d.Retry != c.retry || !d.At.Equal(c.at) || (!d.Retry && d.Reason == "") {
			t.Errorf("%s: %+v, want retry %v at %s", c.name, d, c.retry, c.at)
		}
	}
}

func TestSendErrorText(t *testing.T) {
	for _, c := range []struct {
		err  *report.SendError
		want string
	}{
		{&report.SendError{Target: "POST http://x/y", Status: 503, Retryable: true, RetryAfter: time.Minute, Detail: "busy"},
			"POST http://x/y: status 503 (busy); retryable after 1m0s"},
		{&report.SendError{Target: "SMTP mx:25", Err: errors.New("refused"), Retryable: true}, "SMTP mx:25: refused; retryable"},
		{&report.SendError{Target: "POST http://x/y", Status: 404}, "POST http://x/y: status 404; permanent"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
	if retry, _ := report.RetryInfo(fmt.Errorf("wrapped: %w", report.Skipf("x"))); retry {
		t.Error("a wrapped skip is retryable")
	}
	if !errors.Is(report.Skipf("no pr"), report.ErrSkipped) {
		t.Error("Skipf does not wrap ErrSkipped")
	}
}

func TestJoinURL(t *testing.T) {
	for _, c := range []struct{ base, want string }{
		{"https://api.github.com", "https://api.github.com/repos/g%2Fsub/r"},
		{"https://ghe.example.org/api/v3/", "https://ghe.example.org/api/v3/repos/g%2Fsub/r"},
	} {
		u, err := report.JoinURL(c.base, "repos", "g/sub", "r")
		if err != nil || u.String() != c.want {
			t.Errorf("JoinURL(%q) = %v, %v; want %s", c.base, u, err, c.want)
		}
	}
	for _, bad := range []string{"api.github.com", "ftp://x/", "https://", "http://a b/"} {
		if _, err := report.JoinURL(bad, "x"); err == nil {
			t.Errorf("JoinURL(%q) accepted", bad)
		}
	}
}
