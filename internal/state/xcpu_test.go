package state

import (
	"os"
	"bytes"
	"fmt"
	"runtime/debug"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestXSnapCPU(t *testing.T) {
	db := newDB(t)
	txn := db.Txn(true)
	seq := &ids{}
	for i := 0; i < 300_000; i++ {
		if _, err := applyCmd(txn, seq, addChange(change(fmt.Sprintf("a%d", i), "main", int64(i+1)))); err != nil {
			t.Fatal(err)
		}
	}
	txn.Commit()
	var buf bytes.Buffer
	WriteSnapshot(&buf, db.Txn(false))
	gcs := map[string]int{"100": 100, "400": 400, "off": -1}
	for _, gc := range []int{gcs[os.Getenv("XGC")]} {
		old := debug.SetGCPercent(gc)
		c0, w0 := cpuTime(), time.Now()
		if _, err := ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatal(err)
		}
		t.Logf("gc %d: cpu %v wall %v", gc, cpuTime()-c0, time.Since(w0))
		debug.SetGCPercent(old)
	}
}
