package control

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRefusalsAreLoggedWithinTheBudget: 1,000 refused requests from one
// peer at one instant (the budget's clock stands still) log DropLogBurst
// lines, and are all counted.
func TestRefusalsAreLoggedWithinTheBudget(t *testing.T) {
	var logs bytes.Buffer
	dropped := &drops{}
	system := quietSystem()
	t.Cleanup(system.Shutdown)
	instant := time.Unix(1e9, 0)
	srv := newServer(system, nil, slog.New(slog.NewTextHandler(&logs, nil)), dropped.add, func() time.Time { return instant })
	for range 1000 {
		r := httptest.NewRequest(http.MethodPost, "/elsewhere", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		srv.ServeHTTP(httptest.NewRecorder(), r)
	}
	if n := strings.Count(logs.String(), "control: refused a request"); n != DropLogBurst {
		t.Errorf("1000 refusals logged %d lines, want %d", n, DropLogBurst)
	}
	if n := strings.Count(dropped.String(), DropMalformed); n != 1000 {
		t.Errorf("%d refusals counted, want 1000", n)
	}
}
