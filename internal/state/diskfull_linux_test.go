package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err == nil {
		buf := make([]byte, 4096)
		for err == nil {
			_, err = f.Write(buf)
		}
		f.Close()
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v, want ENOSPC", path, err)
	}
}

// ledger records what a test wrote: the acknowledged changes by id, and the
// authors of the writes that were reported failed.
type ledger struct {
	s      *Store
	n      int
	acked  map[uint64]string
	failed map[string]error
}

func (l *ledger) write() error {
	l.n++
	author := fmt.Sprintf("author-%d", l.n)
	res, err := l.s.Submit(addChange(change(author, "main", int64(l.n)))).Wait()
	if err != nil {
		l.failed[author] = err
		return err
	}
	l.acked[res.Id] = author
	return nil
}

// check fails the test unless every acknowledged write is in s and no
// write reported failed is.
func (l *ledger) check(t *testing.T, s *Store, when string) {
	t.Helper()
	checkAcked(t, s, l.acked)
	it, err := s.Read().Get(TableChanges, IndexID)
	if err != nil {
		t.Fatal(err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*messages.Change)
		if err, ok := l.failed[c.Author]; ok {
			t.Fatalf("%s: change %d by %s is in the state, but its write was reported failed (%v)", when, c.Changeid, c.Author, err)
		}
	}
	if got := Count(s.Read(), TableChanges); got != len(l.acked) {
		t.Fatalf("%s: %d changes in the state, %d acknowledged", when, got, len(l.acked))
	}
}

// On a real file system that fills up (a tmpfs of 8 MiB, raft log segments
// of 64 KiB so that the log rotates), writes fail and are reported failed,
// the store says it is degraded by a full disk, and once space is back it
// writes again by itself; every acknowledged write is there, also after a
// restart, and no failed one is. Needs root (mount).
func TestDiskFullRecovers(t *testing.T) {
	mnt := testkit.Tmpfs(t, "8m")
	dir := filepath.Join(mnt, "state")
	opts := testOpts()
	opts.SegmentSize = 64 << 10
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	l := &ledger{s: s, acked: map[uint64]string{}, failed: map[string]error{}}
	filler := filepath.Join(mnt, "filler")
	for round := range 4 {
		for range 100 {
			if err := l.write(); err != nil {
				t.Fatalf("round %d, before the disk fills: %v", round, err)
			}
		}
		if h := s.Health(); h.Degraded() {
			t.Fatalf("round %d: health %q before the disk is full", round, h)
		}
		fillDisk(t, filler)
		var werr error
		for i := 0; werr == nil; i++ {
			if i == 20000 {
				t.Fatalf("round %d: 20000 writes on a full disk all succeeded", round)
			}
			werr = l.write()
		}
		t.Logf("round %d: write %d failed: %v", round, l.n, werr)
		if !errors.Is(werr, syscall.ENOSPC) && !errors.Is(werr, ErrDegraded) {
			t.Errorf("round %d: a write on a full disk failed with %v, want ENOSPC or ErrDegraded", round, werr)
		}
		if h := s.Health(); h.String() != "degraded: disk full" {
			t.Errorf("round %d: health %q on a full disk, want %q", round, h, "degraded: disk full")
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		testkit.Retry(t, func() error {
			if err := l.write(); err != nil {
				return fmt.Errorf("round %d: writes still fail after space came back: %w", round, err)
			}
			return nil
		})
		if h := s.Health(); h.Log != nil {
			t.Errorf("round %d: health %q (log: %v) after a write succeeded", round, h, h.Log)
		}
		// raft takes the snapshot that failed again by itself.
		testkit.Eventually(t, "healthy once the disk has space", func() bool { return !s.Health().Degraded() })
		l.check(t, s, fmt.Sprintf("round %d", round))
	}
	if len(l.failed) == 0 {
		t.Fatal("no write failed: the test proved nothing")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("reopen after the disk was full: %v", err)
	}
	l.s = s
	l.check(t, s, "after a restart")
	if err := l.write(); err != nil {
		t.Fatalf("write after a restart: %v", err)
	}
	if h := s.Health(); h.Degraded() {
		t.Errorf("health after a restart: %q", h)
	}
}
