package msgpack

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"testing"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// TestConnectionLost: when the worker goes away, pending calls fail, every
// open command completes with ErrConnectionLost, and new ones are refused.
func TestConnectionLost(t *testing.T) {
	for _, how := range []string{"close", "drop"} {
		t.Run(how, func(t *testing.T) {
			m := startMaster(t, ServerOptions{})
			r, conn := loggedInRaw(t, m)
			ctx := testCtx(t)
			sinks := []*sink{newSink(), newSink()}
			for i, s := range sinks {
				go func() {
					_ = conn.StartCommand(ctx, wire.Command{ID: string(rune('a' + i)), Name: "shell", Args: map[string]any{}, Sink: s})
				}()
				r.answer(r.must(), nil)
			}
			printed := make(chan error, 1)
			go func() { printed <- conn.Print(ctx, "anyone?") }()
			r.must() // the print, never answered
			if how == "close" {
				r.ws.Close(1000, "worker stopping")
			} else {
				r.ws.CloseNow()
			}
			if err := recv(t, printed, "Print's return"); !errors.Is(err, wire.ErrConnectionLost) {
				t.Errorf("Print = %v, want ErrConnectionLost", err)
			}
			for _, s := range sinks {
				if err := s.ended(t); !errors.Is(err, wire.ErrConnectionLost) {
					t.Errorf("Complete(%v), want ErrConnectionLost", err)
				}
			}
			waitDone(t, conn.Done(), "Done")
			if !errors.Is(conn.Err(), wire.ErrConnectionLost) {
				t.Errorf("Err = %v", conn.Err())
			}
			s := newSink()
			if err := conn.StartCommand(ctx, wire.Command{ID: "c", Name: "shell", Sink: s}); !errors.Is(err, wire.ErrConnectionLost) {
				t.Errorf("StartCommand after the end = %v", err)
			}
			if err := s.ended(t); !errors.Is(err, wire.ErrConnectionLost) {
				t.Errorf("Complete(%v)", err)
			}
		})
	}
}

// TestMasterCloses: Close sends the reason to the worker, whose commands'
// calls then fail.
func TestMasterCloses(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	cmds := make(chan *Command, 1)
	w.run = func(cmd *Command) { cmds <- cmd }
	c, conn := connect(t, m, w)
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "1", Name: "shell", Sink: newSink()}); err != nil {
		t.Fatal(err)
	}
	cmd := recv(t, cmds, "the command")
	conn.Close("duplicate worker")
	waitDone(t, c.Done(), "the worker's end")
	waitDone(t, cmd.Done(), "the command's connection end")
	if err := cmd.Update(context.Background(), wire.Update{Key: "rc"}); !errors.Is(err, wire.ErrConnectionLost) {
		t.Errorf("Update after the end = %v", err)
	}
	waitDone(t, conn.Done(), "the master side's end")
	if want := "connection lost: closed: duplicate worker"; conn.Err().Error() != want {
		t.Errorf("master Err = %v, want %q", conn.Err(), want)
	}
}

// TestServerClose: Close ends every connection, mid-login too, and turns
// new workers away.
func TestServerClose(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	c, conn := connect(t, m, w)
	r := dialRaw(t, m.url, basic("w2", "secret2"))
	r.must() // get_worker_info, unanswered
	m.srv.Close("master stopping")
	waitDone(t, c.Done(), "the logged-in worker's end")
	waitDone(t, conn.Done(), "the logged-in connection's end")
	if code, reason := r.closeStatus(); reason != "master stopping" {
		t.Errorf("the worker mid-login was closed with %v %q", code, reason)
	}
	_, resp, _ := websocket.Dial(testCtx(t), m.url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {basic("w1", "pa:ss")}}})
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a new worker got %v, want 503", resp)
	}
}

// TestNoGrowth: many calls and commands on one connection leave nothing
// behind: no pending request, no open command, no goroutine.
func TestNoGrowth(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	w.run = func(cmd *Command) { _ = cmd.Complete(context.Background(), nil) }
	_, conn := connect(t, m, w)
	ctx := testCtx(t)
	round := func(n int) {
		for i := range n {
			s := newSink()
			if err := conn.StartCommand(ctx, wire.Command{ID: string(rune(i)), Name: "shell", Sink: s}); err != nil {
				t.Fatal(err)
			}
			s.ended(t)
			cctx, cancel := context.WithCancel(ctx)
			cancel() // a caller that gave up
			_ = conn.Print(cctx, "x")
		}
	}
	round(50)
	base := runtime.NumGoroutine()
	round(500)
	if err := conn.Keepalive(ctx); err != nil { // the abandoned prints are answered by now
		t.Fatal(err)
	}
	conn.mu.Lock()
	open := len(conn.commands)
	conn.mu.Unlock()
	conn.p.mu.Lock()
	pending, allow := len(conn.p.pending), len(conn.p.allow)
	conn.p.mu.Unlock()
	if open != 0 || pending != 0 || allow != 0 {
		t.Errorf("left behind: %d commands, %d pending, %d allowances", open, pending, allow)
	}
	if n := runtime.NumGoroutine(); n > base+5 {
		t.Errorf("%d goroutines after 500 more rounds, %d before", n, base)
	}
}
