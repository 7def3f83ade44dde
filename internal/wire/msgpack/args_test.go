package msgpack

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// TestResolve: RemoteCommand's builder-relative args become the worker's
// absolute ones, as Buildbot's master sends them; worker-form args pass.
func TestResolve(t *testing.T) {
	posix := pathModuleOf(map[string]any{"system": "posix", "environ": map[string]any{"HOME": "/home/bb/"}})
	nt := pathModuleOf(map[string]any{"system": "nt", "environ": map[string]any{"USERPROFILE": `C:\Users\bb`}})
	const base = "/w/b1"
	tests := []struct {
		pm   pathModule
		name string
		in   map[string]any
		want map[string]any
	}{
		{posix, "mkdir", map[string]any{"dir": "build"}, map[string]any{"paths": []any{"/w/b1/build"}}},
		{posix, "rmdir", map[string]any{"dir": []any{"a", "/abs"}, "timeout": 120}, map[string]any{"paths": []any{"/w/b1/a", "/abs"}, "timeout": 120}},
		{posix, "mkdir", map[string]any{"paths": []any{"/x"}}, map[string]any{"paths": []any{"/x"}}},
		{posix, "cpdir", map[string]any{"fromdir": "a", "todir": "b"}, map[string]any{"from_path": "/w/b1/a", "to_path": "/w/b1/b"}},
		{posix, "stat", map[string]any{"workdir": "build", "file": "f"}, map[string]any{"workdir": "build", "path": "/w/b1/build/f"}},
		{posix, "stat", map[string]any{"file": "f"}, map[string]any{"path": "/w/b1/f"}},
		{posix, "glob", map[string]any{"path": "build/*.o"}, map[string]any{"path": "/w/b1/build/*.o"}},
		{posix, "rmfile", map[string]any{"path": "/abs/f"}, map[string]any{"path": "/abs/f"}},
		{posix, "listdir", map[string]any{"dir": "build"}, map[string]any{"path": "/w/b1/build"}},
		{posix, "shell", map[string]any{"workdir": "build", "command": "make"}, map[string]any{"workdir": "/w/b1/build", "command": "make"}},
		{posix, "upload_file", map[string]any{"workdir": "build", "workersrc": "out/a.tgz"}, map[string]any{"workdir": "build", "workersrc": "out/a.tgz", "path": "/w/b1/build/out/a.tgz"}},
		{posix, "upload_directory", map[string]any{"workdir": "build", "workersrc": "~/docs"}, map[string]any{"workdir": "build", "workersrc": "~/docs", "path": "/home/bb/docs"}},
		{posix, "download_file", map[string]any{"workdir": "build", "workerdest": "in.txt"}, map[string]any{"workdir": "build", "workerdest": "in.txt", "path": "/w/b1/build/in.txt"}},
		{posix, "download_file", map[string]any{"path": "/given"}, map[string]any{"path": "/given"}},
		{nt, "shell", map[string]any{"workdir": "build"}, map[string]any{"workdir": `C:\w\b1` + `\build`}},
		{nt, "upload_file", map[string]any{"workdir": "build", "workersrc": `D:\out`}, map[string]any{"workdir": "build", "workersrc": `D:\out`, "path": `D:\out`}},
	}
	for _, tt := range tests {
		b := base
		if tt.pm.sep == `\` {
			b = `C:\w\b1`
		}
		if err := tt.pm.resolve(tt.name, tt.in, b); err != nil {
			t.Errorf("%s %v: %v", tt.name, tt.in, err)
			continue
		}
		if !reflect.DeepEqual(tt.in, tt.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tt.name, tt.in, tt.want)
		}
	}
	for _, bad := range []struct {
		name string
		args map[string]any
	}{
		{"mkdir", map[string]any{"dir": 3}},
		{"mkdir", map[string]any{"dir": []any{"a", 3}}},
		{"shell", map[string]any{"workdir": 3}},
		{"upload_file", map[string]any{"workersrc": []any{}}},
	} {
		if err := posix.resolve(bad.name, bad.args, base); err == nil {
			t.Errorf("%s %v: no error", bad.name, bad.args)
		}
	}
}

// fsWorker answers the file commands SetBuilderList sends from a fake
// directory listing, and records every command it gets.
type fsWorker struct {
	mu    sync.Mutex
	files []any
	got   []string
	args  []map[string]any
}

func (f *fsWorker) run(cmd *Command) {
	ctx := context.Background()
	f.mu.Lock()
	f.got = append(f.got, cmd.Name)
	f.args = append(f.args, cmd.Args)
	f.mu.Unlock()
	us := []wire.Update{}
	switch cmd.Name {
	case "listdir":
		us = append(us, wire.Update{Key: "files", Value: f.files})
	case "stat":
		mode := int64(0o100644)
		if cmd.Args["path"] == "/w/old-builder" {
			mode = 0o040755
		}
		us = append(us, wire.Update{Key: "stat", Value: []any{mode, 1, 2, 1, 0, 0, 10, 0, 0, 0}})
	}
	us = append(us, wire.Update{Key: "rc", Int: 0})
	_ = cmd.Update(ctx, us...)
	_ = cmd.Complete(ctx, nil)
}

func TestSetBuilderList(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	fw := &fsWorker{files: []any{"b1", "old-builder", "twistd.log"}}
	w := newGoWorker()
	w.info["delete_leftover_dirs"] = true
	w.run = fw.run
	_, conn := connect(t, m, w)
	ctx := testCtx(t)
	if err := conn.SetBuilderList(ctx, map[string]string{"one": "b1", "two": "b2"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"listdir", "stat", "stat", "rmdir", "mkdir"}
	if !reflect.DeepEqual(fw.got, want) {
		t.Errorf("commands %v, want %v", fw.got, want)
	}
	if got := fw.args[3]["paths"]; !reflect.DeepEqual(got, []any{"/w/old-builder"}) {
		t.Errorf("rmdir %v", got)
	}
	if got := fw.args[4]["paths"]; !reflect.DeepEqual(got, []any{"/w/b2", "/w/info"}) {
		t.Errorf("mkdir %v", got)
	}
	// A builder's command now gets the builder's paths.
	s := newSink()
	if err := conn.StartCommand(ctx, wire.Command{ID: "1", Builder: "two", Name: "mkdir", Args: map[string]any{"dir": "build"}, Sink: s}); err != nil {
		t.Fatal(err)
	}
	s.ended(t)
	if got := fw.args[5]["paths"]; !reflect.DeepEqual(got, []any{"/w/b2/build"}) {
		t.Errorf("a builder's mkdir got %v", got)
	}
}

func TestSetBuilderListFails(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	w.run = func(cmd *Command) {
		_ = cmd.Update(context.Background(), wire.Update{Key: "rc", Int: 2})
		_ = cmd.Complete(context.Background(), nil)
	}
	_, conn := connect(t, m, w)
	err := conn.SetBuilderList(testCtx(t), map[string]string{"one": "b1"})
	if err == nil || err.Error() != "set builder list: listdir: Error number: 2" {
		t.Errorf("SetBuilderList = %v", err)
	}
}
