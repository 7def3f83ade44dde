package service

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/messages"
)

// A Runtime made without a master (a service's own tests) has both log
// budgets: a listener's refusal or a worker's line is logged, not a nil
// dereference.
func TestNewRuntimeHasLogBudgets(t *testing.T) {
	var buf bytes.Buffer
	rt := NewRuntime(nil, slog.New(slog.NewTextHandler(&buf, nil)), &messages.MasterConfig{}, nil)
	rt.Refusals.Refused("192.0.2.1:1234", "refused")
	rt.WorkerLines.LogAt(slog.LevelInfo, "w", "worker attached")
	if got := buf.String(); !strings.Contains(got, "msg=refused peer=192.0.2.1:1234") || !strings.Contains(got, `msg="worker attached"`) {
		t.Errorf("logged %q, want both lines", got)
	}
}

// TestWorkerLinesShowTheLastStateOfAFlappingWorker: a worker that
// attaches and detaches past its line budget, then leaves for good, gets
// its final "worker detached" logged once its budget allows a line again.
func TestWorkerLinesShowTheLastStateOfAFlappingWorker(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1e9, 0)
	var timers []func()
	_, lines := NewLogBudgets(slog.New(slog.NewTextHandler(&buf, nil)), func() time.Time { return now },
		func(_ time.Duration, f func()) { timers = append(timers, f) })
	for range 8 {
		lines.LogAt(slog.LevelInfo, "w1", "worker attached", slog.String("worker", "w1"))
		lines.LogAt(slog.LevelInfo, "w1", "worker detached", slog.String("worker", "w1"), slog.String("reason", "lost"))
	}
	buf.Reset()
	now = now.Add(droplog.DefaultSourceEvery)
	for _, f := range timers {
		f()
	}
	if got := buf.String(); !strings.Contains(got, `msg="worker detached" worker=w1 reason=lost dropped_at=`) || !strings.Contains(got, "not_logged_before=5") {
		t.Fatalf("logged %q, want the last detached line and the 5 dropped before it", got)
	}
}
