package msgpack

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/wiretest"
)

// A worker's last updates, sent with the complete (as buildbot-worker and
// buildworker both do), reach the Sink with the end of the command, in
// one Finish: its build gets one message instead of two.
func TestLastUpdatesGoWithTheComplete(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	w.run = func(cmd *Command) {
		_ = cmd.Finish(context.Background(), []wire.Update{{Key: "header", Text: "true\n"}, {Key: "rc", Int: 0}, {Key: "elapsed", Float: 0.5}}, nil)
	}
	_, conn := connect(t, m, w)
	s := wiretest.NewFinishSink()
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "1", Name: "shell", Args: map[string]any{}, Sink: s}); err != nil {
		t.Fatal(err)
	}
	recv(t, s.Seen, "end of the command")
	if got, want := s.Calls(), []string{"finish [header rc elapsed] <nil>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the Sink got %q, want %q", got, want)
	}
}

// An update the worker sends and then nothing (a command printing a line,
// then working quietly) reaches the Sink before anything else comes in:
// the reader hands held updates over before it reads from the socket.
func TestALoneUpdateReachesTheSinkAtOnce(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	release := make(chan struct{})
	w.run = func(cmd *Command) {
		ctx := context.Background()
		_ = cmd.Update(ctx, wire.Update{Key: "stdout", Text: "line\n"})
		<-release
		_ = cmd.Complete(ctx, nil)
	}
	_, conn := connect(t, m, w)
	s := wiretest.NewFinishSink()
	if err := conn.StartCommand(testCtx(t), wire.Command{ID: "1", Name: "shell", Args: map[string]any{}, Sink: s}); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, s.Seen, "Update call for the lone update"); got != "update [stdout]" {
		t.Errorf("the Sink's first call: %q, want the update", got)
	}
	close(release)
	if got := recv(t, s.Seen, "end of the command"); got != "finish [] <nil>" {
		t.Errorf("the Sink's last call: %q, want a Finish without updates", got)
	}
}

// Updates of one command held when another command's update comes are
// handed over first: each Sink sees its updates in order and before its
// command's end, and only the updates that came last before the end go
// with it.
func TestUpdatesOfInterleavedCommandsKeepTheirOrder(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := newGoWorker()
	cmds := make(chan *Command, 2)
	w.run = func(cmd *Command) { cmds <- cmd }
	_, conn := connect(t, m, w)
	a, b := wiretest.NewFinishSink(), wiretest.NewFinishSink()
	for id, s := range map[string]*wiretest.FinishSink{"a": a, "b": b} {
		if err := conn.StartCommand(testCtx(t), wire.Command{ID: id, Name: "shell", Args: map[string]any{}, Sink: s}); err != nil {
			t.Fatal(err)
		}
	}
	byID := map[string]*Command{}
	for range 2 {
		c := recv(t, cmds, "a started command")
		byID[c.ID] = c
	}
	ca, cb := byID["a"], byID["b"]
	up := func(c *Command, text string) frame {
		return frame{"op": "update", "command_id": c.ID, "args": encodeUpdates([]wire.Update{{Key: "stdout", Text: text}}, time.Now())}
	}
	if err := ca.c.p.callAll(testCtx(t), up(ca, "a1"), up(cb, "b1"), up(ca, "a2"),
		frame{"op": "complete", "command_id": cb.ID, "args": nil}, frame{"op": "complete", "command_id": ca.ID, "args": nil}); err != nil {
		t.Fatal(err)
	}
	recv(t, a.Seen, "a's first call")
	recv(t, a.Seen, "a's second call")
	recv(t, b.Seen, "b's first call")
	recv(t, b.Seen, "b's second call")
	if got, want := a.Calls(), []string{"update [stdout]", "finish [stdout] <nil>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("a got %q, want %q", got, want)
	}
	if got, want := b.Calls(), []string{"update [stdout]", "finish [] <nil>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("b got %q, want %q", got, want)
	}
}
