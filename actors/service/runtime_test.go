package service

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

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
