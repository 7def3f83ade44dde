package logchunk

import (
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// On a real, small file system that fills up (tmpfs of 512 KiB), the log
// loses what it cannot write, goes on, and writes again once space is
// freed. Needs root (mount); skipped otherwise.
func TestDiskFullTmpfs(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=512k"); err != nil {
		t.Skipf("cannot mount a tmpfs of 512 KiB here (%v): the real disk-full case is not run; TestDiskFull covers it with injected faults", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	st, err := Open(filepath.Join(dir, "logs"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Lines zstd cannot shrink much, so that each chunk needs new pages.
	rng := rand.New(rand.NewPCG(1, 2))
	line := func() []byte {
		b := make([]byte, 75)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return []byte(base64.StdEncoding.EncodeToString(b))
	}
	w, err := st.Create(1, Stdio)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	add := func(n int, keep bool) {
		for range n {
			l := line()
			if _, err := w.Append(Stdout, l); err != nil {
				t.Fatal(err)
			}
			if keep {
				want = append(want, "o"+string(l)+"\n")
			}
		}
	}
	add(1000, true)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	// Fill the rest of the file system.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = f.Write(make([]byte, 4096))
	}
	_ = f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v", err)
	}

	add(1000, false)
	err = w.Flush()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush on a full tmpfs: %v, want ENOSPC", err)
	}
	lost := w.Lost()
	if len(lost) == 0 || lost[0].From < 1000 || lost[len(lost)-1].To != 2000 {
		t.Fatalf("lost %v, want lines from 1000 on up to 2000", lost)
	}

	t.Logf("disk full: lost %v", lost)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	add(500, true)
	if err := w.Close(); err != nil {
		t.Fatalf("close once space is back: %v", err)
	}
	got, nums, res := readLines(t, st, 1, 0, -1)
	// Chunks that fit before the disk filled up may have been written too.
	kept := len(got) - 1500
	if kept < 0 || !slices.Equal(got[:1000], want[:1000]) || !slices.Equal(got[1000+kept:], want[1000:]) || nums[len(nums)-1] != 2499 {
		t.Errorf("read %d lines, last numbered %d; want the 1000 first, the 500 last (numbered to 2499)", len(got), nums[len(nums)-1])
	}
	if !slices.Equal(res.Lost, lost) || len(res.Damage) > 0 || res.End != 2500 {
		t.Errorf("read result %+v, want lost %v, no damage", res, lost)
	}
}
