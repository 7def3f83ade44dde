package db_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

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
