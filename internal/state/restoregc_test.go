package state

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestRestorePausesGC: no collection runs while a snapshot is restored,
// even at GOGC=1, and the GC percent found before is back after it.
func TestRestorePausesGC(t *testing.T) {
	db := newDB(t)
	txn := db.Txn(true)
	seq := &ids{}
	for i := range 20_000 {
		if _, err := applyCmd(txn, seq, addChange(change(fmt.Sprintf("a%d", i), "main", int64(i+1)))); err != nil {
			t.Fatal(err)
		}
	}
	txn.Commit()
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, db.Txn(false)); err != nil {
		t.Fatal(err)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// One cycle may have begun, from another goroutine, before the restore.
	if n := after.NumGC - before.NumGC; n > 1 {
		t.Errorf("%d collections during the restore of %d bytes at GOGC=1; want none", n, buf.Len())
	}
	if got := debug.SetGCPercent(1); got != 1 {
		t.Errorf("GC percent after the restore = %d, want the 1 set before it", got)
	}
}

// TestGCPauseNests: overlapping restores turn the collector back on only
// when the last ends, to the percent the first found.
func TestGCPauseNests(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(77))
	var g gcPause
	percent := func() int { p := debug.SetGCPercent(0); debug.SetGCPercent(p); return p }
	steps := []struct {
		op   func()
		name string
		want int
	}{
		{g.begin, "first begin", -1},
		{g.begin, "second begin", -1},
		{g.end, "first end", -1},
		{g.end, "last end", 77},
	}
	for _, s := range steps {
		s.op()
		if got := percent(); got != s.want {
			t.Fatalf("after the %s: GC percent %d, want %d", s.name, got, s.want)
		}
	}
}
