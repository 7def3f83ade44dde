package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// FuzzApply decodes arbitrary bytes as a Command (as the raft FSM does) and
// applies it to a fresh database holding the fixture. It must never panic,
// every error must be a clear ErrBadCommand, and a refused command writes nothing.
func FuzzApply(f *testing.F) {
	for _, c := range append(goldenCommands(), cmd(&messages.ArchiveChanges{Changeids: []uint64{1, 2, 3}}), cmd(&messages.ArchiveBuildsets{Buildsetids: []uint64{1, 2}})) {
		b, _ := proto.Marshal(c)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd := &messages.Command{}
		if err := proto.Unmarshal(data, cmd); err != nil {
			return
		}
		db := fixture(t)
		before := dump(t, db)
		txn := db.Txn(true)
		_, err := Apply(txn, cmd)
		if err != nil {
			txn.Abort()
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error is not ErrBadCommand: %v", err)
			}
			if dump(t, db) != before {
				t.Fatal("refused command wrote something")
			}
			return
		}
		txn.Commit()
	})
}

// TestWriteFuzzSeeds writes the committed seed corpus (with -update).
func TestWriteFuzzSeeds(t *testing.T) {
	if !testkit.Update() {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzApply")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzApply")
	os.MkdirAll(dir, 0o755)
	for i, c := range goldenCommands() {
		b, _ := proto.Marshal(c)
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
