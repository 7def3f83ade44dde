package db

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/logchunk/logchunktest"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// openWithRecords opens the log store in dir/logs (on fsys when not nil)
// and the state in dir/state, which keeps its small logs' records.
func openWithRecords(t *testing.T, dir string, fsys logchunk.FS) (*state.Store, *logchunk.Store) {
	t.Helper()
	logs, err := logchunk.Open(filepath.Join(dir, "logs"), logchunk.Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(dir, "state"), state.Options{Logger: quiet, NoSnapshotOnClose: true, LogRecords: logs})
	if err != nil {
		t.Fatal(err)
	}
	return st, logs
}

// stepLog is log i of the step the tests finish.
func stepLog(i int) string {
	return fmt.Sprintf("hstep log %d\norunning true\nhprogram finished with exit code %d\n", i, i)
}

// finishStepWithLogs adds a build whose step has three small logs, writes
// them, and finishes the step as the log writer does (closeLogs, then
// FinishStep with what it returned). It returns the logs' ids and how many
// fsyncs of the log store closing them took.
func finishStepWithLogs(t *testing.T, st *state.Store, logs *logchunk.Store, fsys *logchunktest.PowerLossFS) ([]uint64, int) {
	t.Helper()
	apply(t, st, &messages.MasterStarted{Name: "m", Time: 1})
	_, stepid, ids := AddTestBuild(t, StoreSubmitter(st), 1, 1, "a", "b", "c")
	ws := make([]*logchunk.Writer, len(ids))
	for i, id := range ids {
		w, err := logs.Create(id, logchunk.Stdio)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AppendChunk([]byte(stepLog(i))); err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	syncs := fsys.Syncs()
	ll := closeLogs(&service.Runtime{DB: st, Logs: logs, Log: quiet}, ids, ws)
	syncs = fsys.Syncs() - syncs
	apply(t, st, &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: 2, Logs: ll})
	return ids, syncs
}

func wantStepLogs(t *testing.T, logs *logchunk.Store, ids []uint64) {
	t.Helper()
	for i, id := range ids {
		if got := lines(t, logs, id); got != stepLog(i) {
			t.Errorf("log %d: %q, want %q", id, got, stepLog(i))
		}
	}
}

// A step's small logs cost no fsync of their own: their records ride in
// the FinishStep that records them. A power loss that takes the segment's
// unsynced tail (cut at a frame or torn inside one) after the command
// committed loses nothing: the replay of the command writes the records
// back.
func TestSmallLogsRideInTheirCommand(t *testing.T) {
	for _, tear := range []int64{0, 9} {
		t.Run(fmt.Sprintf("tear=%d", tear), func(t *testing.T) {
			dir := t.TempDir()
			fsys := &logchunktest.PowerLossFS{}
			st, logs := openWithRecords(t, dir, fsys)
			ids, syncs := finishStepWithLogs(t, st, logs, fsys)
			if syncs != 0 {
				t.Errorf("closing a step's 3 small logs took %d fsyncs, want 0", syncs)
			}
			if err := st.Close(); err != nil { // no snapshot: as a crash leaves it
				t.Fatal(err)
			}
			if err := fsys.Lose(tear); err != nil { // logs is not closed: it would sync
				t.Fatal(err)
			}
			if lost, err := logchunk.Open(filepath.Join(dir, "logs"), logchunk.Options{}); err != nil {
				t.Fatal(err)
			} else if _, _, _, err := lost.Locate(ids[0]); err == nil {
				t.Fatal("the power loss took no record: the test tests nothing")
			} else {
				lost.Close()
			}

			st, logs = openWithRecords(t, dir, nil)
			defer logs.Close()
			defer st.Close()
			wantStepLogs(t, logs, ids)
		})
	}
}

// A snapshot syncs the small logs' records first: once it lets raft drop
// the commands that carried them (Compact drops the whole log), a power
// loss takes nothing the records need.
func TestSnapshotSyncsSmallLogs(t *testing.T) {
	dir := t.TempDir()
	fsys := &logchunktest.PowerLossFS{}
	st, logs := openWithRecords(t, dir, fsys)
	ids, _ := finishStepWithLogs(t, st, logs, fsys)
	if _, after, err := st.Compact(); err != nil || after.Entries > 1 {
		t.Fatalf("compact: %d entries left, %v", after.Entries, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Lose(0); err != nil {
		t.Fatal(err)
	}
	st, logs = openWithRecords(t, dir, nil)
	defer logs.Close()
	defer st.Close()
	wantStepLogs(t, logs, ids)
}

// Without a state that keeps the records (an ephemeral one, or one opened
// without LogRecords), closing logs syncs them, as Close always did.
func TestSmallLogsSyncedWithoutRecords(t *testing.T) {
	fsys := &logchunktest.PowerLossFS{}
	logs, err := logchunk.Open(t.TempDir(), logchunk.Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	if _, syncs := finishStepWithLogs(t, state.OpenEphemeral(), logs, fsys); syncs == 0 {
		t.Error("closing small logs without a state that keeps their records took no fsync")
	}
}

// The records one command carries are bounded (MaxRecordBytes): the logs
// past the bound are synced instead, and after a power loss every log
// reads whole either way.
func TestRecordsBoundedPerCommand(t *testing.T) {
	dir := t.TempDir()
	fsys := &logchunktest.PowerLossFS{}
	st, logs := openWithRecords(t, dir, fsys)
	apply(t, st, &messages.MasterStarted{Name: "m", Time: 1})
	names := make([]string, 8)
	for i := range names {
		names[i] = fmt.Sprintf("log%d", i)
	}
	_, stepid, ids := AddTestBuild(t, StoreSubmitter(st), 1, 1, names...)
	rnd := rand.New(rand.NewPCG(1, 2))
	want := make([]string, len(ids))
	ws := make([]*logchunk.Writer, len(ids))
	for i, id := range ids {
		var b strings.Builder
		for b.Len() < 60<<10 { // 60 KiB that compress little: a small log still
			line := make([]byte, 60)
			for j := range line {
				line[j] = byte('!' + rnd.IntN(90))
			}
			fmt.Fprintf(&b, "o%s\n", line)
		}
		want[i] = b.String()
		w, err := logs.Create(id, logchunk.Stdio)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AppendChunk([]byte(want[i])); err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	ll := closeLogs(&service.Runtime{DB: st, Logs: logs, Log: quiet}, ids, ws)
	total, riding := 0, 0
	for _, l := range ll {
		if total += len(l.GetRecord()); len(l.GetRecord()) > 0 {
			riding++
		}
	}
	if total > MaxRecordBytes || riding == 0 || riding == len(ids) || fsys.Syncs() == 0 {
		t.Errorf("%d records of %d bytes in all ride, %d fsyncs; want some, at most %d bytes, and the rest synced", riding, total, fsys.Syncs(), MaxRecordBytes)
	}
	apply(t, st, &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: 2, Logs: ll})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Lose(0); err != nil {
		t.Fatal(err)
	}
	st, logs = openWithRecords(t, dir, nil)
	defer logs.Close()
	defer st.Close()
	for i, id := range ids {
		if got := lines(t, logs, id); got != want[i] {
			t.Errorf("log %d: %d bytes, want %d", id, len(got), len(want[i]))
		}
	}
}

// When the command carrying the small logs' records is refused, no command
// holds them: finishing syncs them, as closing without records does.
func TestRefusedFinishSyncsSmallLogs(t *testing.T) {
	fsys := &logchunktest.PowerLossFS{}
	st, logs := openWithRecords(t, t.TempDir(), fsys)
	defer logs.Close()
	defer st.Close()
	apply(t, st, &messages.MasterStarted{Name: "m", Time: 1})
	_, stepid, ids := AddTestBuild(t, StoreSubmitter(st), 1, 1, "a")
	w, err := logs.Create(ids[0], logchunk.Stdio)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AppendChunk([]byte(stepLog(0))); err != nil {
		t.Fatal(err)
	}
	rt := &service.Runtime{DB: st, Logs: logs, Log: quiet, Stats: &service.Stats{
		DBCommands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"result"})}}
	// Refused: the step does not exist.
	fin := &messages.FinishStep{Stepid: stepid + 100, Results: state.ResultSuccess, CompleteAt: 2}
	syncs := fsys.Syncs()
	done := make(chan error, 1)
	finishLogs(rt, messages.NewCommand(fin), ids, []*logchunk.Writer{w},
		func(ll []*messages.LogLines) { fin.Logs = ll },
		func(_ *messages.CommandResult, err error) { done <- err })
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the finish of a step that does not exist was not refused")
		}
	case <-time.After(testkit.DefaultTimeout):
		t.Fatal("no answer to the finish")
	}
	if len(fin.GetLogs()) != 1 || len(fin.GetLogs()[0].GetRecord()) == 0 {
		t.Fatalf("the refused finish carried no record: %v", fin.GetLogs())
	}
	if fsys.Syncs() == syncs {
		t.Error("a refused finish left the small logs' records unsynced")
	}
}
