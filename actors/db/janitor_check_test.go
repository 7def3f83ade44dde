package db

import (
	"context"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// A cleanup checks every archive segment: its answer names the first
// damage (a segment whose entries do not decode, as a damaged snapshot
// leaves), and is empty when every segment decodes.
func TestCleanupChecksArchives(t *testing.T) {
	st, now := expiringHistory(t, 3)
	rt, _ := janitorRuntime(t, st)
	run := func() *messages.CleanupResponse {
		res, err := runJanitor(context.Background(), rt, &messages.HorizonsConfig{}, now, true, &logHorizon{}, newPacer(20))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run(); res.GetArchived() == 0 || res.GetArchiveDamage() != "" {
		t.Fatalf("cleanup of sound archives: %v archived, damage %q", res.GetArchived(), res.GetArchiveDamage())
	}
	if err := st.LoadRows(state.TableChangeArchive, &messages.ChangeSegment{Id: 7, Changeids: []uint64{1}, Sourcestampids: []uint64{1},
		ChangeBranches: []uint32{0}, Branches: []string{""}, Ends: []uint32{40}, Data: []byte("short")}); err != nil {
		t.Fatal(err)
	}
	if d := run().GetArchiveDamage(); !strings.Contains(d, "change segment 7") {
		t.Errorf("cleanup of a damaged change segment: damage %q", d)
	}
}
