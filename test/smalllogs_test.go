package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestSmallLogsSurviveAPowerLoss: the small logs of finished steps are
// written to their segment without an fsync; their records ride in the
// raft commands that finish the steps. A master killed with SIGKILL whose
// segments then lose what no fsync made durable, as after a power loss
// (here: all but a torn first frame, since no snapshot ran), serves every
// finished step's log whole after a restart: the replay of the raft log
// writes the records back.
func TestSmallLogsSurviveAPowerLoss(t *testing.T) {
	t.Parallel()
	m := newMaster(t, strings.Replace(strings.Replace(floodConfig, "seq 1 100000000", "true", 1), "seq 1 50000", "seq 1 50", 1))
	m.start(binary)
	startWorker(t, m, "w1", "pw1")
	const builds = 3
	for n := 1; n <= builds; n++ {
		m.force("big")
		m.waitBuild("big", n)
	}
	m.signal(syscall.SIGKILL)
	m.wait()
	segs, err := filepath.Glob(filepath.Join(m.dir, "data", "logs", "small", "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment of small logs: %v", err)
	}
	for _, seg := range segs {
		if err := os.Truncate(seg, 20+7); err != nil { // segment header, then a torn frame
			t.Fatal(err)
		}
	}
	m.start(binary)
	for n := 1; n <= builds; n++ {
		got := m.outLines(n, "first")
		if len(got) != 50 {
			t.Fatalf("build %d: the finished step's log holds %d lines after the power loss, want 50: %q", n, len(got), got)
		}
		for i, l := range got {
			if l != strconv.Itoa(i+1) {
				t.Fatalf("build %d: line %d is %q", n, i, l)
			}
		}
	}
}
