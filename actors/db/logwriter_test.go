package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/mq"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// call writes a command through the db service of m and fails the test if
// it is refused.
func call(t testing.TB, m *master.Master, k proto.Message) *messages.CommandResult {
	t.Helper()
	return db.ApplyAll(t, via(m), k)
}

// via writes through the db service of m.
func via(m *master.Master) db.Submitter {
	return func(c *messages.Command) (*messages.CommandResult, error) {
		return db.Call(context.Background(), m.RT.System, c)
	}
}

// startBuild adds a build on builder "b" whose one step has a stdio log,
// and returns the build's id, the step's and the log's.
func startBuild(t testing.TB, m *master.Master, at int64) (buildid, stepid, logid uint64) {
	t.Helper()
	buildid, stepid, logids := db.AddTestBuild(t, via(m), m.RT.MasterID, at, "stdio")
	return buildid, stepid, logids[0]
}

func logRow(m *master.Master, logid uint64) *messages.Log {
	l, _ := state.Lookup(m.RT.DB.Read(), state.TableLogs, logid).(*messages.Log)
	return l
}

func readLog(t testing.TB, m *master.Master, logid uint64) string {
	t.Helper()
	var b []byte
	if _, err := m.RT.Logs.Read(context.Background(), logid, 0, -1, func(l logchunk.Line) error {
		b = l.AppendContent(b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Lines written to a log reach its file (readers see them at once) and
// never the state, whose row follows the count; the step's finish writes
// its last lines, syncs and closes the file, and commits the count.
func TestLogWriter(t *testing.T) {
	m := mastertest.Start(t, "", t.TempDir(), nil)
	sys := m.RT.System
	_, stepid, logid := startBuild(t, m, 100)

	w, err := db.WriteLog(context.Background(), sys, logid, []byte("hmake\nocc -c a.c\n"))
	if err != nil || w.GetFirstLine() != 0 || w.GetLines() != 2 {
		t.Fatalf("WriteLog = %v, %v", w, err)
	}
	w, err = db.WriteLog(context.Background(), sys, logid, []byte("ewarning"))
	if err != nil || w.GetFirstLine() != 2 || w.GetLines() != 1 {
		t.Fatalf("WriteLog = %v, %v", w, err)
	}
	if got := readLog(t, m, logid); got != "hmake\nocc -c a.c\newarning\n" {
		t.Fatalf("while writing: %q", got)
	}
	testkit.Eventually(t, "the log's row counts its lines", func() bool { return logRow(m, logid).GetNumLines() == 3 })
	if n := state.Count(m.RT.DB.Read(), state.TableLogChunks); n != 0 {
		t.Fatalf("%d logchunks rows", n)
	}

	for _, c := range []struct {
		logid   uint64
		content string
		want    string
	}{
		{99, "ox\n", "log 99 does not exist"},
		{logid, "no stream\n", "not a stream"},
	} {
		_, err := db.WriteLog(context.Background(), sys, c.logid, []byte(c.content))
		if !errors.Is(err, ask.ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("WriteLog(%d, %q) = %v, want an invalid argument saying %q", c.logid, c.content, err, c.want)
		}
	}

	call(t, m, &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: 101,
		Append: &messages.AppendLog{Logid: logid, Content: "odone\n"}})
	if m.RT.Logs.Writer(logid) != nil {
		t.Error("the log's file is still open after its step finished")
	}
	l := logRow(m, logid)
	if !l.GetComplete() || l.GetNumLines() != 4 || len(l.GetLost()) != 0 {
		t.Errorf("row after the finish: %v", l)
	}
	if got := readLog(t, m, logid); got != "hmake\nocc -c a.c\newarning\nodone\n" {
		t.Errorf("after the finish: %q", got)
	}
	if _, err := db.WriteLog(context.Background(), sys, logid, []byte("olate\n")); !errors.Is(err, ask.ErrInvalidArgument) {
		t.Errorf("WriteLog to a finished log = %v", err)
	}
}

// A build's finish closes the files of its open steps' logs, the last
// step's last lines included.
func TestLogWriterBuildFinish(t *testing.T) {
	m := mastertest.Start(t, "", t.TempDir(), nil)
	buildid, stepid, logid := startBuild(t, m, 100)
	if _, err := db.WriteLog(context.Background(), m.RT.System, logid, []byte("oone\n")); err != nil {
		t.Fatal(err)
	}
	call(t, m, &messages.FinishBuild{Buildid: buildid, Results: state.ResultFailure, CompleteAt: 101,
		LastStep: &messages.FinishStep{Stepid: stepid, Results: state.ResultFailure, CompleteAt: 101,
			Append: &messages.AppendLog{Logid: logid, Content: "otwo\n"}}})
	if l := logRow(m, logid); !l.GetComplete() || l.GetNumLines() != 2 || m.RT.Logs.Writer(logid) != nil {
		t.Errorf("row %v, writer open %v", l, m.RT.Logs.Writer(logid) != nil)
	}
}

// The log writer keeps nothing of its own: restarted mid-log, it goes on
// numbering the lines where it was.
func TestLogWriterRestartLosesNothing(t *testing.T) {
	m := mastertest.Start(t, "", t.TempDir(), nil)
	_, stepid, logid := startBuild(t, m, 100)
	write := func(s string) {
		if _, err := db.WriteLog(context.Background(), m.RT.System, logid, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write("oone\n")
	m.RT.System.Root.Send(actor.NewPID(m.RT.System.Address(), paths.Logs), &messages.InjectFailure{Reason: "test"})
	testkit.Eventually(t, "the log writer restarted", func() bool {
		n := m.RT.Tree.Lookup(paths.Logs)
		return n != nil && n.Restarts() > 0
	})
	write("otwo\n")
	call(t, m, &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: 101})
	if got := readLog(t, m, logid); got != "oone\notwo\n" {
		t.Errorf("log after a restart of the writer: %q", got)
	}
}

// A master stopped with a log open records what its file holds; the next
// start finishes the log with its lines.
func TestLogOpenAtStop(t *testing.T) {
	dir := t.TempDir()
	m := mastertest.Start(t, "", dir, nil)
	_, _, logid := startBuild(t, m, 100)
	var want strings.Builder
	for i := range 1000 {
		line := fmt.Sprintf("oline %d\n", i)
		want.WriteString(line)
		if _, err := db.WriteLog(context.Background(), m.RT.System, logid, []byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	m = mastertest.Start(t, "", dir, slog.New(slog.DiscardHandler))
	if l := logRow(m, logid); !l.GetComplete() || l.GetNumLines() != 1000 || len(l.GetLost()) != 0 {
		t.Errorf("row after a restart: %v", l)
	}
	if got := readLog(t, m, logid); got != want.String() {
		t.Errorf("log after a restart: %d bytes, want %d", len(got), want.Len())
	}
}

// Each write is announced on the event bus as soon as readers can see its
// lines (logs/ID/append and steps/ID/logs/SLUG/append, the row with the
// file's count), the step's last lines too, before the log's finished;
// the bytes are counted on /metrics.
func TestLogWriterAnnouncesLines(t *testing.T) {
	m := mastertest.Start(t, "", t.TempDir(), nil)
	_, stepid, logid := startBuild(t, m, 100)
	sub := m.RT.Bus.Subscribe(context.Background(), 100)
	defer sub.Close()
	for _, f := range []string{"logs/*/*", "steps/*/logs/*/*"} {
		if _, err := sub.Add(mq.Filter(strings.Split(f, "/"))); err != nil {
			t.Fatal(err)
		}
	}
	var queued []*mq.Event
	recv := func(topic string) *mq.Event {
		t.Helper()
		for len(queued) == 0 {
			if queued = sub.Take(nil); len(queued) == 0 {
				testkit.Recv(t, topic, sub.Ready())
			}
		}
		ev := queued[0]
		queued = queued[1:]
		return ev
	}
	next := func(topic string, numLines int64, complete bool) {
		t.Helper()
		ev := recv(topic)
		for strings.HasSuffix(ev.Topic, "/new") { // the log's start, if published after the subscription
			ev = recv(topic)
		}
		var row struct {
			NumLines int64 `json:"num_lines"`
			Complete bool
			Slug     string
		}
		if ev.Topic != topic || json.Unmarshal(ev.Body, &row) != nil || row.NumLines != numLines || row.Complete != complete ||
			row.Slug != "stdio" || ev.Class != "builders/1" {
			t.Fatalf("event %s [%s] %s, want %s with num_lines %d", ev.Topic, ev.Class, ev.Body, topic, numLines)
		}
	}
	write := func(s string) {
		t.Helper()
		if _, err := db.WriteLog(context.Background(), m.RT.System, logid, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	logTopic, stepTopic := fmt.Sprintf("logs/%d/", logid), fmt.Sprintf("steps/%d/logs/stdio/", stepid)
	write("oone\notwo\n")
	next(logTopic+"append", 2, false)
	next(stepTopic+"append", 2, false)
	write("othree\n")
	next(logTopic+"append", 3, false)
	next(stepTopic+"append", 3, false)
	call(t, m, &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: 101,
		Append: &messages.AppendLog{Logid: logid, Content: "ofour\n"}})
	next(logTopic+"append", 4, false)
	next(stepTopic+"append", 4, false)
	next(logTopic+"finished", 4, true)
	next(stepTopic+"finished", 4, true)
	if got := testutil.ToFloat64(m.RT.Stats.LogBytes); got != float64(len("oone\notwo\nothree\nofour\n")) {
		t.Errorf("log bytes counted: %v", got)
	}
}
