package state

import (
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// History's commands apply to an empty store and archive what it asks:
// steps and logs in batches, the buildsets but each builder's newest, the
// changes but the newest ChangesKept in whole segments.
func TestHistory(t *testing.T) {
	s := OpenEphemeral()
	defer s.Close()
	h := History{Builds: 350, Builders: 100, LinesPerLog: 40, ArchiveBatch: 256, BuildsetBatch: 64, ChangeBatch: 100, ChangesKept: 120,
		BuildsetProperties: []*messages.Property{{Name: "scheduler", ValueJson: `"main"`, Source: "Scheduler"}}}
	if n, err := s.Load(h.Commands(), 1000); err != nil || n != 1+100+5*350+2+4+2 {
		t.Fatalf("Load = %d, %v", n, err)
	}
	txn := s.Read()
	for table, n := range map[string]int{TableBuilds: 350, TableSteps: 3 * 350, TableLogs: 2 * 350, TableChanges: 350, TableBuildsets: 350} {
		if got := Count(txn, table); got != n {
			t.Errorf("Count(%s) = %d, want %d", table, got, n)
		}
	}
	for table, n := range map[string]int{TableSteps: 0, TableBuildsets: 100, TableChanges: 150} {
		if got := rowsIn(txn, table); got != n {
			t.Errorf("%d rows left in %s, want %d", got, table, n)
		}
	}
	if err := CheckArchive(txn); err != nil {
		t.Fatal(err)
	}
	b := Lookup(txn, TableBuildsets, 7).(*messages.Buildset)
	if len(b.Properties) != 1 || b.Properties[0] == h.BuildsetProperties[0] {
		t.Errorf("buildset 7's properties %v: want a copy of h's", b.Properties)
	}
}
