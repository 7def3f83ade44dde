package auth

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/loginlimit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestRateLimitedLoginSaysWhenToRetry: a web login refused for too many
// failures answers 429 with Retry-After (whole seconds, rounded up), and
// its line says retry_after, as the worker listeners' do.
func TestRateLimitedLoginSaysWhenToRetry(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	now := time.Unix(1e9, 0)
	cfg := &messages.WwwConfig{Auth: &messages.WwwAuthConfig{Type: messages.WwwAuthType_WWW_AUTH_TYPE_USERPASS,
		Users: []*messages.WwwUserConfig{{Username: "bob", Password: "bob-pw"}}}}
	w := NewWeb(WebOptions{Config: func() *messages.WwwConfig { return cfg }, Log: log,
		Limiter: loginlimit.New(loginlimit.Options{UserBurst: 1, UserEvery: 42 * time.Second, Now: func() time.Time { return now }})})
	login := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/auth/login", nil)
		r.SetBasicAuth("bob", "guess")
		rec := httptest.NewRecorder()
		w.routes().ServeHTTP(rec, r)
		return rec
	}
	if rec := login(); rec.Code != http.StatusUnauthorized {
		t.Fatalf("first guess: %d, want 401", rec.Code)
	}
	rec := login() // 42 s to wait, exactly: no second more
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "42" {
		t.Fatalf("second guess: %d, Retry-After %q; want 429 and 42", rec.Code, rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(buf.String(), `msg="web login refused: too many failed logins" peer=192.0.2.1:1234 user=bob retry_after=42s`) {
		t.Fatalf("the refusal's line does not say when to retry:\n%s", buf.String())
	}
	now = now.Add(500 * time.Millisecond) // 41.5 s to wait: Retry-After rounds up
	rec = login()
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "42" {
		t.Fatalf("second guess: %d, Retry-After %q; want 429 and 42", rec.Code, rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(buf.String(), `msg="web login refused: too many failed logins" peer=192.0.2.1:1234 user=bob retry_after=41.5s`) {
		t.Fatalf("the refusal's line does not say when to retry:\n%s", buf.String())
	}
}
