package msgpack

import (
	"context"
	"errors"
	"testing"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// gatedWorker answers start_command only once gate is closed, with a
// refusal.
type gatedWorker struct {
	*goWorker
	gate chan struct{}
}

func (w gatedWorker) StartCommand(context.Context, *Command) error {
	<-w.gate
	return errors.New("no such builder")
}

// Start returns without waiting for the worker's answer (no goroutine
// waits for it), and a refusal still completes the command.
func TestStartDoesNotWaitForTheAnswer(t *testing.T) {
	m := startMaster(t, ServerOptions{})
	w := gatedWorker{newGoWorker(), make(chan struct{})}
	defer func() {
		select {
		case <-w.gate:
		default:
			close(w.gate)
		}
	}()
	c, err := Dial(testCtx(t), m.url, "w1", "pa:ss", w, DialOptions{Logger: m.srv.log.With("side", "worker")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	conn := recv(t, m.conns, "accepted connection")
	s := newSink()
	returned := make(chan struct{})
	go func() {
		conn.Start(wire.Command{ID: "1", Name: "shell", Args: map[string]any{}, Sink: s})
		close(returned)
	}()
	recv(t, returned, "return from Start while the worker has not answered")
	close(w.gate)
	var re *RemoteError
	if err := s.ended(t); !errors.As(err, &re) || re.Op != "start_command" || re.Message != "no such builder" {
		t.Errorf("Complete(%v), want the worker's refusal of start_command", err)
	}
}
