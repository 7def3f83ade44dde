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
// peer log DropLogBurst lines (and one more each tenth of a second that
// went by), and are all counted.
func TestRefusalsAreLoggedWithinTheBudget(t *testing.T) {
	var logs bytes.Buffer
	dropped := &drops{}
	system := quietSystem()
	t.Cleanup(system.Shutdown)
	srv := NewServer(system, nil, slog.New(slog.NewTextHandler(&logs, nil)), dropped.add)
	began := time.Now()
	for range 1000 {
		r := httptest.NewRequest(http.MethodPost, "/elsewhere", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		srv.ServeHTTP(httptest.NewRecorder(), r)
	}
	allowed := DropLogBurst + int(time.Since(began)*DropLogRate/time.Second) + 1
	if n := strings.Count(logs.String(), "control: refused a request"); n < DropLogBurst || n > allowed {
		t.Errorf("1000 refusals logged %d lines, want %d to %d", n, DropLogBurst, allowed)
	}
	if n := strings.Count(dropped.String(), DropMalformed); n != 1000 {
		t.Errorf("%d refusals counted, want 1000", n)
	}
}
