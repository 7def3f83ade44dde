package state

import (
	"errors"
	"fmt"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// Seed writes rows to an empty durable store that the next Open restores
// (they were snapshotted, since the log never held them), and is refused
// once the store holds rows.
func TestSeed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet(), NoSnapshotOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	changes := func(yield func(*messages.Command) bool) {
		for i := range 10_000 {
			if !yield(addChange(change(fmt.Sprintf("a%d", i), "main", int64(1000+i)))) {
				return
			}
		}
	}
	if n, err := s.Seed(changes, 1000); err != nil || n != 10_000 {
		t.Fatalf("Seed = %d, %v", n, err)
	}
	if _, err := s.Seed(changes, 1000); !errors.Is(err, ErrSeedNotEmpty) {
		t.Fatalf("Seed on a store with rows = %v, want ErrSeedNotEmpty", err)
	}
	// A command through the log after the seed gets the next id.
	res, err := s.Submit(addChange(change("last", "main", 1))).Wait()
	if err != nil || res.GetId() != 10_001 {
		t.Fatalf("a change after the seed: %v, %v", res, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{Logger: quiet(), NoSnapshotOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := Count(s.Read(), TableChanges); n != 10_001 {
		t.Fatalf("%d changes after a reopen, want 10001", n)
	}
}
