package db_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// A disk that fills up while a step writes its log (the log files on a
// tmpfs of 1 MiB): the build goes on (every write is answered, the step
// finishes), the lines that could not be written are marked lost in the
// row and noted at the log's end, and the log is written again once there
// is space; every line not lost reads back as written.
func TestLogWriterDiskFull(t *testing.T) {
	dir := t.TempDir()
	mnt := testkit.Tmpfs(t, "1m")
	if err := os.Symlink(mnt, filepath.Join(dir, db.LogsDir)); err != nil {
		t.Fatal(err)
	}
	m := mastertest.Start(t, "", dir, nil)
	_, stepid, logid := startBuild(t, m, 100)
	line := func(n int) string { return fmt.Sprintf("line %06d of the step", n) }
	write := func(from, to int) {
		t.Helper()
		for i := from; i < to; i += 100 {
			var b strings.Builder
			for n := i; n < min(i+100, to); n++ {
				b.WriteString("o" + line(n) + "\n")
			}
			if _, err := db.WriteLog(context.Background(), m.RT.System, logid, []byte(b.String())); err != nil {
				t.Fatalf("writing lines %d…: %v", i, err)
			}
		}
	}
	write(0, 20000)

	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	for buf := make([]byte, 4096); err == nil; {
		_, err = f.Write(buf)
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v", err)
	}
	write(20000, 40000)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	write(40000, 41000)
	call(t, m, &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: 101})

	l := logRow(m, logid)
	if !l.GetComplete() || len(l.GetLost()) == 0 || l.GetNumLines() != 41001 {
		t.Fatalf("row after a full disk: %v, want complete, 41,000 lines and a note, some lost", l)
	}
	lost := func(n int64) bool {
		for _, r := range l.GetLost() {
			if n >= r.GetFrom() && n < r.GetTo() {
				return true
			}
		}
		return false
	}
	read, last := 0, ""
	if _, err := m.RT.Logs.Read(context.Background(), logid, 0, -1, func(ln logchunk.Line) error {
		read++
		switch {
		case ln.N == 41000:
			last = string(ln.Text)
		case lost(ln.N):
			return fmt.Errorf("line %d is marked lost but was read: %q", ln.N, ln.Text)
		case string(ln.Text) != line(int(ln.N)):
			return fmt.Errorf("line %d reads %q", ln.N, ln.Text)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if read < 20000 || !strings.Contains(last, "could not be written (disk full?)") {
		t.Fatalf("%d lines read, the last %q; lost %v", read, last, l.GetLost())
	}
	for n := int64(40000); n < 41000; n++ {
		if lost(n) {
			t.Fatalf("line %d, written once there was space again, is lost: %v", n, l.GetLost())
		}
	}
}
