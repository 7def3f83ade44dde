package msgpack

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/wiretest"
)

// TestMasterOps drives every master → worker op from a Server connection
// to a Dial'ed worker.
func TestMasterOps(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	_, conn := connect(t, m, w)
	ctx := testCtx(t)

	if got := recv(t, w.settings, "set_worker_settings"); got != DefaultSettings() {
		t.Errorf("settings = %+v, want Buildbot's %+v", got, DefaultSettings())
	}
	if conn.Name() != "w1" || !strings.HasPrefix(conn.Remote(), "127.0.0.1:") {
		t.Errorf("Name, Remote = %q, %q", conn.Name(), conn.Remote())
	}
	if err := conn.Print(ctx, "attached"); err != nil {
		t.Fatal(err)
	}
	if e := recv(t, w.events, "print"); e != "print:attached" {
		t.Errorf("worker got %q", e)
	}
	if err := conn.Keepalive(ctx); err != nil {
		t.Fatal(err)
	}
	if e := recv(t, w.events, "keepalive"); e != "keepalive" {
		t.Errorf("worker got %q", e)
	}
	info, err := conn.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"basedir": "/w", "system": "posix", "numcpus": int64(2), "admin": "me"}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("Info = %#v, want %#v", info, want)
	}
	if err := wiretest.Interrupt(t, conn, "b", "7", "stop it"); err != nil {
		t.Fatal(err)
	}
	if e := recv(t, w.events, "interrupt"); e != "interrupt:7:stop it" {
		t.Errorf("worker got %q", e)
	}
	if err := conn.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if e := recv(t, w.events, "shutdown"); e != "shutdown" {
		t.Errorf("worker got %q", e)
	}
}

// TestCommand runs a command whose updates cover every kind of key.
func TestCommand(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	w.run = func(cmd *Command) {
		ctx := context.Background()
		_ = cmd.Update(ctx,
			wire.Update{Key: "header", Text: "running\n"},
			wire.Update{Key: "stdout", Text: "a\nb\n"},
			wire.Update{Key: "log", Log: "build.log", Text: "x\n"},
			wire.Update{Key: "files", Value: []any{"f1", "f2"}},
		)
		_ = cmd.Update(ctx, wire.Update{Key: "rc", Int: 3}, wire.Update{Key: "elapsed", Float: 0.25})
		_ = cmd.Complete(ctx, nil)
	}
	_, conn := connect(t, m, w)
	s := newSink()
	err := conn.StartCommand(testCtx(t), wire.Command{ID: "1", Name: "shell",
		Args: map[string]any{"command": []any{"true"}, "workdir": "/w/b"}, Sink: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ended(t); err != nil {
		t.Fatalf("Complete(%v), want nil", err)
	}
	want := []wire.Update{
		{Key: "header", Text: "running\n"},
		{Key: "stdout", Text: "a\nb\n"},
		{Key: "log", Log: "build.log", Text: "x\n"},
		{Key: "files", Value: []any{"f1", "f2"}},
		{Key: "rc", Int: 3},
		{Key: "elapsed", Float: 0.25},
	}
	if got := s.Updates(); !reflect.DeepEqual(got, want) {
		t.Errorf("updates\n got %#v\nwant %#v", got, want)
	}
	if conn.command("1") != nil {
		t.Error("a completed command is still open")
	}
}

func TestCommandFailsOnWorker(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	w.run = func(cmd *Command) { _ = cmd.Complete(context.Background(), errors.New("disk full")) }
	_, conn := connect(t, m, w)
	s := newSink()
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "1", Name: "rmdir", Args: map[string]any{}, Sink: s}); err != nil {
		t.Fatal(err)
	}
	var re *RemoteError
	if err := s.ended(t); !errors.As(err, &re) || re.Message != "disk full" {
		t.Errorf("Complete(%v), want the worker's failure", err)
	}
}

// TestStartRefused: a start_command the worker refuses fails
// StartCommand and completes the Sink with the same error, once.
func TestStartRefused(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	w.refuse = errors.New("unrecognized WorkerCommand 'frob'")
	_, conn := connect(t, m, w)
	s := newSink()
	err := conn.StartCommand(testCtx(t), wire.Command{ID: "1", Name: "frob", Sink: s})
	var re *RemoteError
	if !errors.As(err, &re) || re.Op != "start_command" || re.Message != "unrecognized WorkerCommand 'frob'" {
		t.Fatalf("StartCommand = %v, want the worker's refusal", err)
	}
	if got := s.ended(t); got != err {
		t.Errorf("Complete(%v), want StartCommand's error", got)
	}
	if conn.command("1") != nil {
		t.Error("a refused command is still open")
	}
}

// TestStartChecks: commands the master cannot send are refused before
// anything goes out, and still completed once.
func TestStartChecks(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	w.run = func(*Command) {} // never completes: keeps "open" open
	_, conn := connect(t, m, w)
	ctx := testCtx(t)
	if err := conn.StartCommand(ctx, wire.Command{ID: "open", Name: "shell", Sink: newSink()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cmd  wire.Command
		want string
	}{
		{"duplicate id", wire.Command{ID: "open", Name: "shell"}, `command id "open" is already open`},
		{"no id", wire.Command{Name: "shell"}, "needs an ID"},
		{"upload without Uploader", wire.Command{ID: "u", Name: "upload_file", Args: map[string]any{"blocksize": 10}}, "needs a wire.Uploader"},
		{"download without Downloader", wire.Command{ID: "d", Name: "downloadFile", Args: map[string]any{"blocksize": 10}}, "needs a wire.Downloader"},
		{"unknown builder", wire.Command{ID: "b", Builder: "nope", Name: "shell"}, `builder "nope" is not in the worker's builder list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink()
			tt.cmd.Sink = s
			err := conn.StartCommand(ctx, tt.cmd)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("StartCommand = %v, want %q", err, tt.want)
			}
			if got := s.ended(t); got != err {
				t.Errorf("Complete(%v), want StartCommand's error", got)
			}
		})
	}
	if bad := (wire.Command{ID: "t", Name: "upload_file", Args: map[string]any{"blocksize": "big"}, Sink: newTransfer(nil)}); conn.StartCommand(ctx, bad) == nil {
		t.Error("a non-integer blocksize was sent")
	}
}

// TestFinish: Finish sends the last updates and the complete without
// waiting in between; the master still takes the updates first, and the
// worker gets the master's answers: nil, a failure it completed with, or
// the master's refusal of a command it does not know.
func TestFinish(t *testing.T) {
	for _, c := range []struct {
		name    string
		failure error
		known   bool // the master has the command open
	}{{"success", nil, true}, {"failure", errors.New("disk full"), true}, {"unknown command", nil, false}} {
		t.Run(c.name, func(t *testing.T) {
			m := startMaster(t, ServerOptions{})
			w := newGoWorker()
			finished := make(chan error, 1)
			w.run = func(cmd *Command) {
				if !c.known {
					cmd.ID = "not-open"
				}
				finished <- cmd.Finish(context.Background(),
					[]wire.Update{{Key: "stdout", Text: "a\n"}, {Key: "rc", Int: 0}, {Key: "elapsed", Float: 0.5}}, c.failure)
			}
			_, conn := connect(t, m, w)
			s := newSink()
			if err := conn.StartCommand(testCtx(t), wire.Command{ID: "1", Name: "shell",
				Args: map[string]any{"command": []any{"true"}, "workdir": "/w/b"}, Sink: s}); err != nil {
				t.Fatal(err)
			}
			err := recv(t, finished, "Finish")
			if !c.known {
				var re *RemoteError
				if !errors.As(err, &re) || re.Op != "update" || re.Message != `unknown "command_id"` {
					t.Fatalf("Finish = %v, want the master's refusal of the update", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Finish = %v", err)
			}
			var re *RemoteError
			if got := s.ended(t); (c.failure == nil) != (got == nil) || c.failure != nil && (!errors.As(got, &re) || re.Message != c.failure.Error()) {
				t.Errorf("Complete(%v), want %v", got, c.failure)
			}
			want := []wire.Update{{Key: "stdout", Text: "a\n"}, {Key: "rc", Int: 0}, {Key: "elapsed", Float: 0.5}}
			if got := s.Updates(); !reflect.DeepEqual(got, want) {
				t.Errorf("updates before the complete\n got %#v\nwant %#v", got, want)
			}
		})
	}
}
