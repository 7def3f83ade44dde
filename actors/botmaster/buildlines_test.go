package botmaster

import (
	"context"
	"log/slog"
	"testing"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// TestBuildLinesAllocateNothing: the two lines every build logs cost no
// allocation before the handler (Info's ...any boxes each attribute).
func TestBuildLinesAllocateNothing(t *testing.T) {
	r := &runner{build: &build{log: slog.New(enabledHandler{}), start: &messages.StartBuild{Worker: "w1"}}, buildid: 12345}
	if n := testing.AllocsPerRun(100, func() {
		r.logStarted(678)
		r.logFinished(state.ResultSuccess)
	}); n != 0 {
		t.Errorf("%.0f allocations for a build's two lines, want 0", n)
	}
}

// enabledHandler takes every record and does nothing with it.
type enabledHandler struct{}

func (enabledHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (enabledHandler) Handle(context.Context, slog.Record) error { return nil }
func (h enabledHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h enabledHandler) WithGroup(string) slog.Handler           { return h }
