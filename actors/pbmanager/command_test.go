package pbmanager

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/messages"
)

// TestWireCommand: each StartCommand becomes Buildbot's RemoteCommand
// name and args (golden), with the master's side of a transfer as its
// Sink; what cannot run is refused before anything is opened.
func TestWireCommand(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(t.TempDir(), "src.txt")
	if err := os.WriteFile(src, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	size, mode := int64(1000), uint32(0o640)
	cmds := []*messages.StartCommand{
		{CommandId: "1", Builder: "b", Command: &messages.StartCommand_Shell{Shell: &messages.ShellCommand{
			Argv: []string{"make", "all"}, Workdir: "build", Env: map[string]string{"A": "1"},
			Timeout: durationpb.New(1200 * time.Second), MaxTime: durationpb.New(1500 * time.Millisecond)}}},
		{CommandId: "2", Command: &messages.StartCommand_Shell{Shell: &messages.ShellCommand{Script: "echo hi", Workdir: "build"}}},
		{CommandId: "3", Command: &messages.StartCommand_Mkdir{Mkdir: &messages.PathsCommand{Paths: []string{"build/out"}}}},
		{CommandId: "4", Command: &messages.StartCommand_Rmdir{Rmdir: &messages.PathsCommand{Paths: []string{"a", "b"}}}},
		{CommandId: "5", Command: &messages.StartCommand_Cpdir{Cpdir: &messages.CopyDirectoryCommand{Fromdir: "a", Todir: "b"}}},
		{CommandId: "6", Command: &messages.StartCommand_Stat{Stat: &messages.StatCommand{Workdir: "build", File: "f"}}},
		{CommandId: "7", Command: &messages.StartCommand_Glob{Glob: &messages.PathCommand{Path: "build/*.o"}}},
		{CommandId: "8", Command: &messages.StartCommand_Listdir{Listdir: &messages.PathCommand{Path: "build"}}},
		{CommandId: "9", Command: &messages.StartCommand_Rmfile{Rmfile: &messages.PathCommand{Path: "build/f"}}},
		{CommandId: "10", Command: &messages.StartCommand_UploadFile{UploadFile: &messages.UploadFileCommand{Workdir: "build",
			Workersrc: "out.bin", Blocksize: 262144, Maxsize: &size, Keepstamp: true, UploadsRoot: root, Masterdest: "x/out.bin", Mode: &mode}}},
		{CommandId: "11", Command: &messages.StartCommand_UploadDirectory{UploadDirectory: &messages.UploadDirectoryCommand{Workdir: "build",
			Workersrc: "docs", Blocksize: 16384, Compress: "gz", UploadsRoot: root, Masterdest: "docs"}}},
		{CommandId: "12", Command: &messages.StartCommand_DownloadFile{DownloadFile: &messages.DownloadFileCommand{Workdir: "build",
			Workerdest: "in.txt", Blocksize: 16384, Mode: &mode, Source: &messages.DownloadFileCommand_MasterPath{MasterPath: src}}}},
		{CommandId: "13", Command: &messages.StartCommand_DownloadFile{DownloadFile: &messages.DownloadFileCommand{Workdir: "build",
			Workerdest: "VERSION", Blocksize: 16384, Source: &messages.DownloadFileCommand_Data{Data: []byte("1.0")}}}},
	}
	var out bytes.Buffer
	for _, m := range cmds {
		c, err := wireCommand(m, &sink{id: m.GetCommandId()})
		if err != nil {
			t.Fatalf("%s: %v", m.GetCommandId(), err)
		}
		args, _ := json.Marshal(c.Args)
		kind := "sink"
		switch s := c.Sink.(type) {
		case *uploadSink:
			kind = "upload"
			s.release() // the writer
		case *downloadSink:
			kind = "download"
			s.release()
		}
		out.WriteString(c.ID + " " + c.Builder + " " + c.Name + " " + kind + " " + string(bytes.ReplaceAll(args, []byte(root), []byte("ROOT"))) + "\n")
	}
	testkit.Golden(t, "testdata/wire_commands.golden", out.Bytes())
	if left, _ := os.ReadDir(filepath.Join(root, "x")); len(left) != 0 {
		t.Errorf("an upload not carried out left %v", left)
	}

	for name, m := range map[string]*messages.StartCommand{
		"no kind":            {CommandId: "x"},
		"escaping upload":    {CommandId: "x", Command: &messages.StartCommand_UploadFile{UploadFile: &messages.UploadFileCommand{Blocksize: 1, UploadsRoot: root, Masterdest: "../x"}}},
		"absolute upload":    {CommandId: "x", Command: &messages.StartCommand_UploadDirectory{UploadDirectory: &messages.UploadDirectoryCommand{Blocksize: 1, UploadsRoot: root, Masterdest: "/etc"}}},
		"no blocksize":       {CommandId: "x", Command: &messages.StartCommand_UploadFile{UploadFile: &messages.UploadFileCommand{UploadsRoot: root, Masterdest: "y"}}},
		"missing source":     {CommandId: "x", Command: &messages.StartCommand_DownloadFile{DownloadFile: &messages.DownloadFileCommand{Blocksize: 1, Source: &messages.DownloadFileCommand_MasterPath{MasterPath: filepath.Join(root, "none")}}}},
		"no download source": {CommandId: "x", Command: &messages.StartCommand_DownloadFile{DownloadFile: &messages.DownloadFileCommand{Blocksize: 1}}},
	} {
		if _, err := wireCommand(m, &sink{id: "x"}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "y")); err == nil {
		t.Error("a refused upload made its file")
	}
}

// FuzzSinkUpdate: whatever values a worker's updates carry (decoded from
// msgpack as the protocol package decodes them), the Sink neither panics
// nor sends more than one complete.
func FuzzSinkUpdate(f *testing.F) {
	for _, seed := range []any{
		[]any{int64(0o100644), 1, 2, 3, 4, 5, int64(6), 7.5, int64(8), 9},
		[]any{"a", "b", int64(3), nil},
		map[string]any{"x": []byte{1}},
		"text", int64(-1), 1e300, nil, []any{},
	} {
		b, _ := vmsgpack.Marshal(seed)
		f.Add("stat", b)
		f.Add("files", b)
	}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	completes := make(chan *messages.CommandUpdate, 16)
	build := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if u, ok := ctx.Message().(*messages.CommandUpdate); ok && u.GetComplete() != nil {
			completes <- u
		}
	}))
	f.Fuzz(func(t *testing.T, key string, raw []byte) {
		var v any
		if vmsgpack.Unmarshal(raw, &v) != nil {
			return
		}
		u := wire.Update{Key: key, Value: v}
		switch x := v.(type) {
		case int64:
			u.Int, u.Value = x, nil
		case float64:
			u.Float, u.Value = x, nil
		case string:
			u.Text, u.Value = x, nil
		}
		s := &sink{id: "c", build: build, root: system.Root, open: &openCommands{sinks: map[string]*sink{}}}
		s.Update([]wire.Update{u, {Key: "stat", Value: v}, {Key: "files", Value: v}, {Key: "elapsed", Float: u.Float}})
		s.Complete(nil)
		c := testkit.Recv(t, "the complete", completes).GetComplete()
		if s.rc != nil && int64(c.GetRc()) != max(min(*s.rc, 1<<31-1), -1<<31) {
			t.Fatalf("rc %d from %d", c.GetRc(), *s.rc)
		}
	})
}
