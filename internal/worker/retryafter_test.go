package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
)

// TestDelayHonoursRetryAfter: after a rate-limited login the next dial
// waits at least what the master asked, bounded by BackoffMax; otherwise
// the back-off.
func TestDelayHonoursRetryAfter(t *testing.T) {
	o := Options{Backoff: func(int) time.Duration { return 2 * time.Second }}
	for _, tc := range []struct {
		what string
		err  error
		want time.Duration
	}{
		{"no error (a lost connection)", nil, 2 * time.Second},
		{"refused", errors.New("refused"), 2 * time.Second},
		{"rate-limited, no wait said", wire.ErrRateLimited, 2 * time.Second},
		{"rate-limited, a shorter wait", wire.RateLimited(time.Second), 2 * time.Second},
		{"rate-limited, a longer wait", wire.RateLimited(30 * time.Second), 30 * time.Second},
		{"rate-limited, an absurd wait", wire.RateLimited(1000 * time.Hour), BackoffMax},
	} {
		if got := o.delay(1, tc.err); got != tc.want {
			t.Errorf("%s: delay %s, want %s", tc.what, got, tc.want)
		}
	}
}

// TestRunWaitsRetryAfter: a worker whose login a master refuses with 429
// and Retry-After: 1 dials again no sooner than a second later, although
// its back-off is a millisecond.
func TestRunWaitsRetryAfter(t *testing.T) {
	dials := make(chan time.Time, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case dials <- time.Now():
		default:
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many failed logins", http.StatusTooManyRequests)
	}))
	defer srv.Close()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		done <- Run(ctx, Options{Master: srv.Listener.Addr().String(), Name: "w1", Password: "pw-w1", Basedir: t.TempDir(),
			Log: slog.New(slog.DiscardHandler), Backoff: func(int) time.Duration { return time.Millisecond }})
	}()
	first := testkit.Recv(t, "the first dial", dials)
	second := testkit.Recv(t, "the second dial", dials)
	cancel()
	testkit.Recv(t, "Run's end", done)
	// The worker starts waiting after the first answer, so after first.
	if gap := second.Sub(first); gap < time.Second {
		t.Fatalf("dialed again %s after a 429 with Retry-After: 1", gap)
	}
}
