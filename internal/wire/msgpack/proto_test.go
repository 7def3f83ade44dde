package msgpack

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// loggedInRaw is a hand-driven worker that has logged in to m.
func loggedInRaw(t *testing.T, m *master) (*raw, *serverConn) {
	t.Helper()
	r := dialRaw(t, m.url, basic("w1", "pa:ss"))
	r.login()
	return r, recv(t, m.conns, "accepted connection").(*serverConn)
}

// TestEarlyUpdates: Buildbot's worker may send update and complete for a
// command before it answers start_command; the master has the command
// registered by then.
func TestEarlyUpdates(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	r, conn := loggedInRaw(t, m)
	s := newSink()
	started := make(chan error, 1)
	go func() {
		started <- conn.StartCommand(testCtx(t), wire.Command{ID: "0", Name: "listdir", Args: map[string]any{"path": "/w"}, Sink: s})
	}()
	req := r.must()
	if req["op"] != "start_command" || req["command_id"] != "0" || req["command_name"] != "listdir" {
		t.Fatalf("got %v", req)
	}
	r.send(frame{"op": "update", "seq_number": 0, "command_id": "0",
		"args": []any{[]any{"files", []any{"info"}}, []any{"rc", 0}, []any{"elapsed", 0.001}}})
	r.send(frame{"op": "complete", "seq_number": 1, "command_id": "0", "args": nil})
	for range 2 {
		if a := r.must(); a["op"] != "response" || a["is_exception"] != nil {
			t.Fatalf("answer %v", a)
		}
	}
	r.answer(req, nil)
	if err := recv(t, started, "StartCommand's return"); err != nil {
		t.Fatal(err)
	}
	if err := s.ended(t); err != nil {
		t.Fatal(err)
	}
	want := []wire.Update{{Key: "files", Value: []any{"info"}}, {Key: "rc"}, {Key: "elapsed", Float: 0.001}}
	if got := s.Updates(); !reflect.DeepEqual(got, want) {
		t.Errorf("updates %#v, want %#v", got, want)
	}
}

// TestErrorAnswers: requests the master cannot obey get Buildbot's error
// answers, and the connection goes on.
func TestErrorAnswers(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	r, conn := loggedInRaw(t, m)
	ctx := testCtx(t)
	w := make(chan struct{})
	go func() {
		defer close(w)
		// An open shell command, to aim upload and read ops at.
		_ = conn.StartCommand(ctx, wire.Command{ID: "sh", Name: "shell", Args: map[string]any{}, Sink: newSink()})
	}()
	r.answer(r.must(), nil)
	<-w
	unknown := `unknown "command_id"`
	tests := []struct {
		req  frame
		want string
	}{
		{frame{"op": "frob"}, "Command frob does not exist."},
		{frame{"op": "update", "args": []any{}}, `message did not contain obligatory "command_id" key`},
		{frame{"op": "update", "command_id": "nope", "args": []any{}}, unknown},
		{frame{"op": "update", "command_id": 7, "args": []any{}}, unknown},
		{frame{"op": "complete", "command_id": "nope", "args": nil}, unknown},
		{frame{"op": "update", "command_id": "sh"}, `message did not contain obligatory "args" key`},
		{frame{"op": "update", "command_id": "sh", "args": "x"}, "update args is a string, want a list of [key, value] pairs"},
		{frame{"op": "update", "command_id": "sh", "args": []any{[]any{"stdout", 3}}}, "update args[0] (stdout): want [text, offsets, times]"},
		{frame{"op": "update", "command_id": "sh", "args": []any{[]any{1, 2}}}, "update args[0]: key is a int64, want a str"},
		{frame{"op": "update_upload_file_write", "command_id": "sh", "args": []byte("x")}, unknown},
		{frame{"op": "update_upload_directory_unpack", "command_id": "sh"}, unknown},
		{frame{"op": "update_upload_file_utime", "command_id": "sh", "access_time": 1, "modified_time": 2}, unknown},
		{frame{"op": "update_read_file", "command_id": "sh", "length": 10}, unknown},
		{frame{"op": "update_read_file_close", "command_id": "nope"}, unknown},
	}
	for i, tt := range tests {
		tt.req["seq_number"] = 100 + i
		r.send(tt.req)
		a := r.must()
		if seq, _ := a.int("seq_number"); a["op"] != "response" || seq != int64(100+i) || a["is_exception"] != true || a["result"] != tt.want {
			t.Errorf("%v: answer %v, want the exception %q", tt.req, a, tt.want)
		}
	}
	// A frame without seq_number or op is dropped, a text frame ignored.
	r.send(frame{"op": "update"})
	r.send(frame{"seq_number": 1})
	if err := r.ws.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	r.send(frame{"op": "frob", "seq_number": 200})
	if a := r.must(); a["seq_number"] != int64(200) {
		t.Errorf("answer %v, want the one to seq 200", a)
	}
}

// TestNotAuthenticated: until the login exchange is over, no worker
// request is obeyed.
func TestNotAuthenticated(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	r := dialRaw(t, m.url, basic("w1", "pa:ss"))
	req := r.must()
	if req["op"] != "get_worker_info" {
		t.Fatalf("first request %v", req)
	}
	r.send(frame{"op": "update", "seq_number": 0, "command_id": "0", "args": []any{}})
	if a := r.must(); a["result"] != "Worker not authenticated." || a["is_exception"] != true {
		t.Errorf("answer %v", a)
	}
}

func TestLoginTimeout(t *testing.T) {
	m := startMaster(t, ServerOptions{LoginTimeout: 50 * time.Millisecond})
	r := dialRaw(t, m.url, basic("w1", "pa:ss"))
	if req := r.must(); req["op"] != "get_worker_info" {
		t.Fatalf("first request %v", req)
	}
	// No answer: the master gives up.
	if code, reason := r.closeStatus(); code != websocket.StatusPolicyViolation || reason != "login failed" {
		t.Errorf("closed with %v %q", code, reason)
	}
	if !strings.Contains(m.logs.String(), "login failed") {
		t.Errorf("no log of the reason:\n%s", m.logs)
	}
	select {
	case c := <-m.conns:
		t.Errorf("accepted %v", c)
	default:
	}
}

func TestMalformedFrameCloses(t *testing.T) {
	for _, b := range [][]byte{{0xc1}, {0x91, 0x01}, {0x81, 0xa1}} {
		m := startMaster(t, ServerOptions{})
		r, conn := loggedInRaw(t, m)
		if err := r.ws.Write(testCtx(t), websocket.MessageBinary, b); err != nil {
			t.Fatal(err)
		}
		if code, _ := r.closeStatus(); code != websocket.StatusUnsupportedData {
			t.Errorf("% x: closed with %v", b, code)
		}
		waitDone(t, conn.Done(), "the connection's end")
	}
}

// TestFrameLimit: a frame over the limit closes the connection, except an
// upload block within its command's blocksize.
func TestFrameLimit(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	r, conn := loggedInRaw(t, m)
	up := newTransfer(nil)
	go func() {
		_ = conn.StartCommand(testCtx(t), wire.Command{ID: "u", Name: "upload_file",
			Args: map[string]any{"path": "/w/f", "blocksize": 2 << 20, "maxsize": nil}, Sink: up})
	}()
	r.answer(r.must(), nil)
	big := bytes.Repeat([]byte("x"), DefaultMaxFrame+1)
	r.send(frame{"op": "update_upload_file_write", "seq_number": 0, "command_id": "u", "args": big})
	if a := r.must(); a["is_exception"] != nil {
		t.Fatalf("upload block refused: %v", a)
	}
	r.send(frame{"op": "complete", "seq_number": 1, "command_id": "u", "args": nil})
	r.must()
	if err := up.ended(t); err != nil {
		t.Fatal(err)
	}
	if up.got.Len() != len(big) {
		t.Errorf("uploaded %d bytes, want %d", up.got.Len(), len(big))
	}
	// The upload is over: the same frame is now too big.
	r.send(frame{"op": "update", "seq_number": 2, "command_id": "u", "args": []any{[]any{"stdout", string(big)}}})
	if code, _ := r.closeStatus(); code != websocket.StatusMessageTooBig {
		t.Errorf("closed with %v, want %v", code, websocket.StatusMessageTooBig)
	}
	waitDone(t, conn.Done(), "the connection's end")
	if !strings.Contains(m.logs.String(), "frame too big") {
		t.Errorf("no log of the reason:\n%s", m.logs)
	}
}

// TestLateRefusal: a start_command answered with an error after the
// caller stopped waiting still completes the command.
func TestLateRefusal(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	r, conn := loggedInRaw(t, m)
	s := newSink()
	ctx, cancel := context.WithCancel(testCtx(t))
	started := make(chan error, 1)
	go func() {
		started <- conn.StartCommand(ctx, wire.Command{ID: "0", Name: "shell", Args: map[string]any{}, Sink: s})
	}()
	req := r.must()
	cancel()
	if err := recv(t, started, "StartCommand's return"); err == nil {
		t.Fatal("StartCommand returned nil without an answer")
	}
	seq, _ := req.int("seq_number")
	r.send(frame{"op": "response", "seq_number": seq, "result": "no such command", "is_exception": true})
	if err := s.ended(t); err == nil || !strings.Contains(err.Error(), "no such command") {
		t.Errorf("Complete(%v), want the refusal", err)
	}
}
