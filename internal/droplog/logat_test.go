package droplog

import (
	"log/slog"
	"strings"
	"testing"
)

// TestLogAtBudgetsByNameWithoutPeer: LogAt spends the budget of the source
// it is given (a name), and its lines carry only the attributes given.
func TestLogAtBudgetsByNameWithoutPeer(t *testing.T) {
	l, buf, c := newLog(Options{})
	for range 100 {
		l.LogAt(slog.LevelInfo, "w1", "worker attached", slog.String("worker", "w1"))
	}
	if !l.LogAt(slog.LevelInfo, "w2", "worker attached", slog.String("worker", "w2")) {
		t.Fatal("w1's loop spent w2's budget")
	}
	if got := lines(buf); len(got) != DefaultSourceBurst+1 || strings.Contains(buf.String(), "peer=") {
		t.Fatalf("%d lines, want %d, none with a peer:\n%s", len(got), DefaultSourceBurst+1, buf)
	}
	buf.Reset()
	c.t = c.t.Add(DefaultSourceEvery)
	if !l.LogAt(slog.LevelInfo, "w1", "worker detached") || !strings.Contains(buf.String(), "not_logged_before=90") {
		t.Fatalf("once w1's budget refilled: %q; want not_logged_before=90", buf)
	}
}
