package secrets

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestRetired: a Retired keeps the last RetiredPerName former values of a
// name (one given again moves to the newest), hides them behind the name's
// marker, and never prints one.
func TestRetired(t *testing.T) {
	var r Retired
	for i := range RetiredPerName + 1 {
		r.Add("tok", fmt.Sprintf("old-token-%d", i))
	}
	r.Add("tok", "old-token-1") // again: the newest, not twice
	var now Values
	now.Add("tok", "new-token-0")
	var was Values
	was.Add("tok", "new-token-0")
	was.Add("gone", "gone-value-0")
	r.Replaced(was, now)
	if r.Len() != RetiredPerName+1 {
		t.Fatalf("Len = %d, want %d", r.Len(), RetiredPerName+1)
	}
	got := now.RedactorWith(&r).Redact("old-token-0 old-token-1 old-token-4 new-token-0 gone-value-0")
	if want := "old-token-0 <tok> <tok> <tok> <gone>"; got != want {
		t.Fatalf("Redact = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %s %d", &r, &r, &r, &r)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "retired", &r)
	if strings.Contains(buf.String(), "-token-") || strings.Contains(buf.String(), "gone-value") {
		t.Fatalf("printed: %s", buf.String())
	}
}
