package reportertest

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// FixedNow is the clock the conformance suite gives senders.
func FixedNow() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) }

// HTTPSender is what the conformance suite tests: a sender posting to
// baseURL, reading Retry-After dates against now, holding secret (a token
// or password) that must never show in an error.
type HTTPSender struct {
	New    func(t *testing.T, baseURL string, now func() time.Time) report.Sender
	Report *report.Report
	Secret string
}

// RunHTTPConformance checks how an HTTP sender handles each kind of answer:
// success, server errors, rate limits (Retry-After in seconds and as a
// date, GitHub's X-RateLimit headers on 403), permanent refusals, a
// redirect it must not follow, a dropped connection, an endless answer it
// must not read to the end, and a target that hangs until the caller's
// context ends. No error may show the secret.
func RunHTTPConformance(t *testing.T, s HTTPSender) {
	now := FixedNow()
	reset := now.Add(90 * time.Second)
	for _, c := range []struct {
		name   string
		answer Answer
		retry  bool
		after  time.Duration
		status int
	}{
		{"201 delivers", Answer{Status: 201, Body: "{}"}, false, 0, 0},
		{"200 delivers", Answer{Status: 200}, false, 0, 0},
		{"500 is retryable", Answer{Status: 500, Body: "oops"}, true, 0, 500},
		{"502 is retryable", Answer{Status: 502}, true, 0, 502},
		{"503 with Retry-After seconds", Answer{Status: 503, Header: map[string]string{"Retry-After": "120"}}, true, 120 * time.Second, 503},
		{"429 with Retry-After date", Answer{Status: 429, Header: map[string]string{"Retry-After": now.Add(time.Hour).Format(http.TimeFormat)}}, true, time.Hour, 429},
		{"429 without Retry-After", Answer{Status: 429}, true, 0, 429},
		{"403 rate limited with Retry-After", Answer{Status: 403, Header: map[string]string{"Retry-After": "60"},
			Body: `{"message":"You have exceeded a secondary rate limit"}`}, true, time.Minute, 403},
		{"403 rate limit exhausted", Answer{Status: 403, Header: map[string]string{"X-RateLimit-Remaining": "0",
			"X-RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10)}}, true, 90 * time.Second, 403},
		{"403 forbidden is permanent", Answer{Status: 403, Body: `{"message":"Resource not accessible"}`}, false, 0, 403},
		{"401 is permanent", Answer{Status: 401, Body: `{"message":"Bad credentials"}`}, false, 0, 401},
		{"404 is permanent", Answer{Status: 404}, false, 0, 404},
		{"422 is permanent", Answer{Status: 422, Body: `{"message":"Validation Failed"}`}, false, 0, 422},
		{"redirect is not followed", Answer{Status: 302, Header: map[string]string{"Location": "/moved?token=1"}}, false, 0, 302},
		{"dropped connection is retryable", Answer{Drop: true}, true, 0, 0},
		{"endless error answer is cut short", Answer{Status: 500, Endless: true}, true, 0, 500},
		{"endless success answer is cut short", Answer{Status: 200, Endless: true}, false, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := NewFakeHTTP(t)
			fake.Queue(c.answer)
			err := s.New(t, fake.URL, FixedNow).Send(context.Background(), s.Report)
			if len(fake.Requests()) != 1 {
				t.Fatalf("%d requests, want 1", len(fake.Requests()))
			}
			success := c.answer.Status/100 == 2
			if success {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			var se *report.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v, want a *report.SendError", err)
			}
			retry, after := report.RetryInfo(err)
			if retry != c.retry || after != c.after || se.Status != c.status {
				t.Errorf("Send = %v: retry %v after %s status %d; want %v after %s status %d", err, retry, after, se.Status, c.retry, c.after, c.status)
			}
			NoSecret(t, err, s.Secret)
		})
	}

	t.Run("echoed secrets are blanked", func(t *testing.T) {
		fake := NewFakeHTTP(t)
		fake.Queue(Answer{Status: 400, Body: "you sent: " + s.Secret})
		err := s.New(t, fake.URL, time.Now).Send(context.Background(), s.Report)
		if err == nil {
			t.Fatal("Send succeeded on 400")
		}
		NoSecret(t, err, s.Secret)
	})

	t.Run("a hanging target lets go when the context ends", func(t *testing.T) {
		fake := NewFakeHTTP(t)
		fake.Queue(Answer{Hang: true})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.New(t, fake.URL, time.Now).Send(ctx, s.Report) }()
		testkit.Recv(t, "the request", fake.Arrived())
		cancel()
		err := testkit.Recv(t, "Send's return after the context ended", done)
		if retry, _ := report.RetryInfo(err); !retry || !errors.Is(err, context.Canceled) {
			t.Fatalf("Send = %v, want a retryable error wrapping context.Canceled", err)
		}
		NoSecret(t, err, s.Secret)
	})
}

// NoSecret fails the test if err's text shows the secret.
func NoSecret(t testing.TB, err error, secret string) {
	t.Helper()
	if err != nil && secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the secret: %v", err)
	}
}
