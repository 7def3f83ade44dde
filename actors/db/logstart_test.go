package db

import (
	"bytes"
	"compress/gzip"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

var quiet = slog.New(slog.DiscardHandler)

// apply writes the commands ks to st (see ApplyAll).
func apply(t testing.TB, st *state.Store, ks ...proto.Message) *messages.CommandResult {
	t.Helper()
	return ApplyAll(t, StoreSubmitter(st), ks...)
}

func openState(t testing.TB, dir string, noSnapshot bool) *state.Store {
	t.Helper()
	st, err := state.Open(dir, state.Options{Logger: quiet, NoSnapshotOnClose: noSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// legacyState writes, as a release that kept log contents in the state:
// build 1 (finished) with log 1 (stdio, two chunks, the second gzipped
// as Buildbot may have it) and log 2 (text), and build 2 (running) with
// log 3 (stdio, one chunk).
func legacyState(t testing.TB, st *state.Store) {
	t.Helper()
	apply(t, st, &messages.MasterStarted{Name: "m", Time: 1})
	AddTestBuild(t, StoreSubmitter(st), 1, 1, "stdio")
	apply(t, st,
		&messages.AddLog{Stepid: 1, Name: "notes", Slug: "notes", Type: "t"},
		&messages.AppendLog{Logid: 1, Content: "hstart\nocompiling\n"},
		&messages.AppendLog{Logid: 2, Content: "a note"},
		&messages.AppendLog{Logid: 1, Content: "eoops\n"},
		&messages.FinishBuild{Buildid: 1, Results: state.ResultSuccess, CompleteAt: 2})
	AddTestBuild(t, StoreSubmitter(st), 1, 3, "stdio")
	apply(t, st, &messages.AppendLog{Logid: 3, Content: "orunning\n"})
}

// lines reads every line of log logid as Buildbot's logchunk content.
func lines(t testing.TB, logs *logchunk.Store, logid uint64) string {
	t.Helper()
	var b []byte
	if _, err := logs.Read(context.Background(), logid, 0, -1, func(l logchunk.Line) error {
		b = l.AppendContent(b)
		return nil
	}); err != nil {
		t.Fatalf("read log %d: %v", logid, err)
	}
	return string(b)
}

// A data directory written by a release that kept log contents in the
// state (in its snapshot, or only in its raft log) opens: the contents move
// to files, the rows go, and a snapshot drops them for good.
func TestOpenLogsMovesContentsOutOfTheState(t *testing.T) {
	for _, where := range []string{"snapshot", "raft log"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			st := openState(t, filepath.Join(dir, "state"), where == "raft log")
			legacyState(t, st)
			st.Close()

			st = openState(t, filepath.Join(dir, "state"), false)
			if n := state.Count(st.Read(), state.TableLogChunks); n != 4 {
				t.Fatalf("%d logchunks rows before, want 4", n)
			}
			logs, closeLogs, err := OpenLogs(context.Background(), filepath.Join(dir, "logs"), st, quiet)
			if err != nil {
				t.Fatal(err)
			}
			checkMoved(t, st, logs)
			closeLogs()
			st.Close()

			// Nothing left to move at the next start, from the snapshot.
			st = openState(t, filepath.Join(dir, "state"), false)
			defer st.Close()
			if n := state.Count(st.Read(), state.TableLogChunks); n != 0 {
				t.Fatalf("%d logchunks rows after a restart", n)
			}
			logs, closeLogs, err = OpenLogs(context.Background(), filepath.Join(dir, "logs"), st, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer closeLogs()
			checkMoved(t, st, logs)
		})
	}
}

func checkMoved(t *testing.T, st *state.Store, logs *logchunk.Store) {
	t.Helper()
	txn := st.Read()
	if n := state.Count(txn, state.TableLogChunks); n != 0 {
		t.Errorf("%d logchunks rows left", n)
	}
	for id, want := range map[uint64]string{1: "hstart\nocompiling\neoops\n", 2: "a note\n", 3: "orunning\n"} {
		if got := lines(t, logs, id); got != want {
			t.Errorf("log %d: %q, want %q", id, got, want)
		}
		l := state.Lookup(txn, state.TableLogs, id).(*messages.Log)
		if l.NumLines != int64(strings.Count(want, "\n")) || len(l.Lost) > 0 {
			t.Errorf("log %d: row %v", id, l)
		}
	}
}

// A gzipped chunk (Buildbot's compression) is moved decompressed; a
// start cut short after writing a file but before removing the rows
// writes the file again.
func TestOpenLogsRedoesAMoveCutShort(t *testing.T) {
	dir := t.TempDir()
	st := state.OpenEphemeral()
	defer st.Close()
	apply(t, st, &messages.MasterStarted{Name: "m", Time: 1})
	AddTestBuild(t, StoreSubmitter(st), 1, 1, "stdio")
	apply(t, st, &messages.FinishBuild{Buildid: 1, Results: state.ResultSuccess, CompleteAt: 2})
	// A gzipped chunk, as Buildbot's logCompressionMethod gz stores it.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("oone\notwo\n"))
	zw.Close()
	if err := st.LoadRows(state.TableLogChunks, &messages.LogChunk{Logid: 1, FirstLine: 0, LastLine: 1, Content: gz.Bytes(), Compressed: 1}); err != nil {
		t.Fatal(err)
	}
	// The file a cut-short move left.
	logs, err := logchunk.Open(filepath.Join(dir, "logs"), logchunk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := logs.Create(1, logchunk.Stdio)
	w.Append(logchunk.Stdout, []byte("half"))
	w.Close()
	logs.Close()

	logs, closeLogs, err := OpenLogs(context.Background(), filepath.Join(dir, "logs"), st, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLogs()
	if got := lines(t, logs, 1); got != "oone\notwo\n" {
		t.Errorf("log 1: %q", got)
	}
}

// The files of logs left open by a master killed mid-build are recovered at
// start: a torn tail is cut off, and the lines the state counted that no
// file holds are marked lost; finished logs are not read.
func TestOpenLogsRecoversOpenLogs(t *testing.T) {
	dir := t.TempDir()
	st := openState(t, filepath.Join(dir, "state"), false)
	defer st.Close()
	apply(t, st, &messages.MasterStarted{Name: "m", Time: 1})
	AddTestBuild(t, StoreSubmitter(st), 1, 1, "stdio", "other", "none")
	logs, err := logchunk.Open(filepath.Join(dir, "logs"), logchunk.Options{ChunkSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	w1, _ := logs.Create(1, logchunk.Stdio)
	for i := range 10 {
		w1.Append(logchunk.Stdout, []byte(strings.Repeat("x", 20+i)))
	}
	w1.Flush()
	w2, _ := logs.Create(2, logchunk.Stdio)
	w2.Append(logchunk.Stdout, []byte("kept"))
	w2.Flush()
	// What the state was told before the crash: 10 and 3 lines (log 2's
	// last two were still in the writer's buffer), log 3 one line (never
	// written: the disk was full).
	apply(t, st, &messages.SetLogLines{Logs: []*messages.LogLines{{Logid: 1, NumLines: 10}, {Logid: 2, NumLines: 3}, {Logid: 3, NumLines: 1}}})
	// kill -9: the writers are never closed; log 1's last chunk is torn.
	path := logs.Path(1)
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	logs2, closeLogs, err := OpenLogs(context.Background(), filepath.Join(dir, "logs"), st, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLogs()
	txn := st.Read()
	for id, want := range map[uint64][]*messages.LineRange{1: {{From: 8, To: 10}}, 2: {{From: 1, To: 3}}, 3: {{From: 0, To: 1}}} {
		l := state.Lookup(txn, state.TableLogs, id).(*messages.Log)
		if !slices.EqualFunc(l.Lost, want, func(a, b *messages.LineRange) bool { return proto.Equal(a, b) }) {
			t.Errorf("log %d lost %v, want %v", id, l.Lost, want)
		}
	}
	rep, err := logs2.Check(context.Background(), 1)
	if err != nil || rep.Torn != 0 || rep.Lines != 8 {
		t.Errorf("log 1 after recovery: %+v, %v (want 8 whole lines, nothing torn)", rep, err)
	}
}
