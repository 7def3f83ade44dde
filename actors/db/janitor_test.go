package db_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

func cleanup(m *master.Master, token string) (*messages.CleanupResponse, error) {
	return ask.Ask[*messages.CleanupResponse](context.Background(), m.RT.System.Root,
		actor.NewPID(m.RT.System.Address(), paths.Janitor), &messages.CleanupRequest{Token: token})
}

// cleanupdb removes what the horizons let go, from the state and the disk,
// then orphan log files, and compacts the state; only with the admin token.
func TestCleanupDB(t *testing.T) {
	m := mastertest.Start(t, "horizons: {builds_per_builder: 2}\n", t.TempDir(), nil)
	var logs []uint64
	for i := range 5 {
		buildid, stepid, logid := startBuild(t, m, int64(100+i))
		if _, err := db.WriteLog(context.Background(), m.RT.System, logid, []byte("oline\n")); err != nil {
			t.Fatal(err)
		}
		call(t, m, &messages.FinishBuild{Buildid: buildid, Results: state.ResultSuccess, CompleteAt: int64(101 + i),
			LastStep: &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: int64(101 + i)}})
		logs = append(logs, logid)
	}
	// A file no log names: left by a crash between a removal from the
	// state and from the disk.
	w, err := m.RT.Logs.Create(999, logchunk.Stdio)
	if err != nil {
		t.Fatal(err)
	}
	w.Append(logchunk.Stdout, []byte("orphan"))
	w.Close()

	if _, err := cleanup(m, "wrong"); !errors.Is(err, ask.ErrUnauthenticated) {
		t.Fatalf("cleanup with a wrong token: %v", err)
	}
	if n := state.Count(m.RT.DB.Read(), state.TableBuilds); n != 5 {
		t.Fatalf("%d builds after a refused cleanup", n)
	}

	res, err := cleanup(m, mastertest.Token)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetBuilds() != 3 || res.GetLogs() != 3 || res.GetOrphanFiles() != 1 || res.GetLogBytes() == 0 {
		t.Errorf("cleanup: %v", res)
	}
	if res.GetRaftLogEntriesBefore() < 20 || res.GetRaftLogEntriesAfter() > 1 || res.GetRaftLogBytesAfter() > res.GetRaftLogBytesBefore() {
		t.Errorf("raft log %d → %d entries, %d → %d bytes: not compacted", res.GetRaftLogEntriesBefore(), res.GetRaftLogEntriesAfter(),
			res.GetRaftLogBytesBefore(), res.GetRaftLogBytesAfter())
	}
	txn := m.RT.DB.Read()
	if n := state.Count(txn, state.TableBuilds); n != 2 {
		t.Errorf("%d builds left, want 2", n)
	}
	for i, id := range append(logs, 999) {
		_, _, _, err := m.RT.Logs.Locate(id)
		if gone := errors.Is(err, os.ErrNotExist); gone != (i < 3 || id == 999) {
			t.Errorf("log %d's file: %v", id, err)
		}
		if l := state.Lookup(txn, state.TableLogs, id); (l == nil) != (i < 3 || id == 999) {
			t.Errorf("log %d's row: %v", id, l)
		}
	}
}

// The janitor removes the logs of the builds that go in one removal a
// command: small logs (in the shared segments) and logs with files of their
// own alike, counting each log's bytes once.
func TestJanitorRemovesSmallAndFileLogs(t *testing.T) {
	m := mastertest.Start(t, "horizons: {builds_per_builder: 1}\n", t.TempDir(), nil)
	big := []byte(strings.Repeat("o"+strings.Repeat("x", 99)+"\n", 2000)) // 200 KB: past a chunk, a file
	var logs []uint64
	for i := range 4 {
		buildid, stepid, logid := startBuild(t, m, int64(100+i))
		content := []byte("oline\n")
		if i%2 == 0 {
			content = big
		}
		if _, err := db.WriteLog(context.Background(), m.RT.System, logid, content); err != nil {
			t.Fatal(err)
		}
		call(t, m, &messages.FinishBuild{Buildid: buildid, Results: state.ResultSuccess, CompleteAt: int64(101 + i),
			LastStep: &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: int64(101 + i)}})
		logs = append(logs, logid)
	}
	var want int64
	kinds := map[bool]int{} // own file → logs
	for _, id := range logs[:3] {
		path, _, size, err := m.RT.Logs.Locate(id)
		if err != nil {
			t.Fatalf("log %d before the cleanup: %v", id, err)
		}
		want += size
		kinds[path == m.RT.Logs.Path(id)]++
	}
	if kinds[true] != 2 || kinds[false] != 1 {
		t.Fatalf("logs to go: %d with files, %d small; want 2 and 1", kinds[true], kinds[false])
	}
	res, err := cleanup(m, mastertest.Token)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetBuilds() != 3 || res.GetLogs() != 3 || res.GetLogBytes() != want {
		t.Errorf("cleanup: %v; want 3 builds, 3 logs of %d bytes", res, want)
	}
	for i, id := range logs {
		if _, _, _, err := m.RT.Logs.Locate(id); errors.Is(err, os.ErrNotExist) != (i < 3) {
			t.Errorf("log %d: %v", id, err)
		}
		if _, err := os.Stat(m.RT.Logs.Path(id)); i < 3 && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("log %d's file: %v", id, err)
		}
	}
}

// The janitor ends the web sessions that have expired on its own timer,
// with no login to sweep them, and leaves the open ones.
func TestJanitorEndsExpiredSessions(t *testing.T) {
	cfg, err := config.Load("test.yaml", []byte("listen: {www: 127.0.0.1:0, debug: 127.0.0.1:0, workers: 127.0.0.1:0, workers_pb: 127.0.0.1:0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.Start(master.Options{Config: cfg, Token: mastertest.Token, Log: slog.New(slog.DiscardHandler), NoRemote: true, Ephemeral: true,
		SessionSweep: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(10 * time.Second) })
	now := time.Now().Unix()
	expired, open := strings.Repeat("e", 64), strings.Repeat("0", 64)
	call(t, m, &messages.StartSession{Session: &messages.WebSession{Sha256: expired, Username: "alice", StartedAt: now - 7200, ExpiresAt: now - 3600}})
	call(t, m, &messages.StartSession{Session: &messages.WebSession{Sha256: open, Username: "bob", StartedAt: now, ExpiresAt: now + 3600}})
	testkit.Eventually(t, "the expired session ended", func() bool {
		return state.WebSessionBySHA256(m.RT.DB.Read(), expired) == nil
	})
	if state.WebSessionBySHA256(m.RT.DB.Read(), open) == nil {
		t.Fatal("the open session was ended too")
	}
}

// Every run of the janitor, horizons or not, archives the builds that
// finished more than db.ArchiveAfter ago: their steps and logs leave the
// tables and read as before; running and recently finished builds stay.
func TestJanitorArchives(t *testing.T) {
	m := mastertest.Start(t, "", t.TempDir(), nil)
	type build struct{ id, step, log uint64 }
	var old []build
	for i := range 3 {
		b, s, l := startBuild(t, m, int64(100+i))
		if _, err := db.WriteLog(context.Background(), m.RT.System, l, []byte("oline\n")); err != nil {
			t.Fatal(err)
		}
		call(t, m, &messages.FinishBuild{Buildid: b, Results: state.ResultSuccess, CompleteAt: int64(101 + i),
			LastStep: &messages.FinishStep{Stepid: s, Results: state.ResultSuccess, CompleteAt: int64(101 + i)}})
		old = append(old, build{b, s, l})
	}
	now := time.Now().Unix()
	recent, rs, _ := startBuild(t, m, now)
	call(t, m, &messages.FinishBuild{Buildid: recent, Results: state.ResultSuccess, CompleteAt: now,
		LastStep: &messages.FinishStep{Stepid: rs, Results: state.ResultSuccess, CompleteAt: now}})
	running, _, _ := startBuild(t, m, now)
	steps, logs := map[uint64]string{}, map[uint64]string{}
	for _, b := range old {
		steps[b.step] = prototext.Format(state.Lookup(m.RT.DB.Read(), state.TableSteps, b.step))
		logs[b.log] = prototext.Format(state.Lookup(m.RT.DB.Read(), state.TableLogs, b.log))
	}

	res, err := cleanup(m, mastertest.Token)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetArchived() != 3 || res.GetBuilds() != 0 {
		t.Errorf("cleanup: %v, want 3 builds archived and none removed", res)
	}
	txn := m.RT.DB.Read()
	var left []uint64
	it, err := txn.Get(state.TableSteps, state.IndexID)
	if err != nil {
		t.Fatal(err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		left = append(left, raw.(*messages.Step).Buildid)
	}
	if !slices.Equal(left, []uint64{recent, running}) {
		t.Errorf("steps left in the table are of builds %v, want %v", left, []uint64{recent, running})
	}
	for _, b := range old {
		if got := prototext.Format(state.Lookup(txn, state.TableSteps, b.step)); got != steps[b.step] {
			t.Errorf("archived step %d reads %s, want %s", b.step, got, steps[b.step])
		}
		if got := prototext.Format(state.Lookup(txn, state.TableLogs, b.log)); got != logs[b.log] {
			t.Errorf("archived log %d reads %s, want %s", b.log, got, logs[b.log])
		}
	}
	if err := state.CheckArchive(txn); err != nil {
		t.Error(err)
	}
	if res, err := cleanup(m, mastertest.Token); err != nil || res.GetArchived() != 0 {
		t.Errorf("second cleanup: %v, %v; want nothing more archived", res, err)
	}
}
