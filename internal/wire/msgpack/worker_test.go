package msgpack

import (
	"context"
	"fmt"
	"testing"
)

// goWorker is a Handler whose commands run a script the test gives.
type goWorker struct {
	events   chan string // print:…, keepalive, settings, interrupt:id:why, shutdown
	settings chan Settings
	info     map[string]any
	run      func(cmd *Command) // runs each command, on its own goroutine
	refuse   error              // StartCommand's answer
}

func newGoWorker() *goWorker {
	return &goWorker{
		events:   make(chan string, 64),
		settings: make(chan Settings, 4),
		info:     map[string]any{"basedir": "/w", "system": "posix", "numcpus": 2, "admin": "me"},
	}
}

// event records e unless the test has stopped reading events.
func (w *goWorker) event(e string) {
	select {
	case w.events <- e:
	default:
	}
}

func (w *goWorker) Print(_ context.Context, m string) error { w.event("print:" + m); return nil }
func (w *goWorker) Keepalive(context.Context) error         { w.event("keepalive"); return nil }
func (w *goWorker) WorkerInfo(context.Context) (map[string]any, error) {
	return w.info, nil
}

func (w *goWorker) SetWorkerSettings(_ context.Context, s Settings) error {
	w.settings <- s
	return nil
}

func (w *goWorker) StartCommand(_ context.Context, cmd *Command) error {
	if w.refuse != nil {
		return w.refuse
	}
	go w.run(cmd)
	return nil
}

func (w *goWorker) InterruptCommand(_ context.Context, id, why string) error {
	w.event(fmt.Sprintf("interrupt:%s:%s", id, why))
	return nil
}

func (w *goWorker) Shutdown(context.Context) error { w.event("shutdown"); return nil }

// connect dials m as w1 with w and returns both ends.
func connect(t *testing.T, m *master, w *goWorker) (*Client, *serverConn) {
	t.Helper()
	c, err := Dial(testCtx(t), m.url, "w1", "pa:ss", w, DialOptions{Logger: m.srv.log.With("side", "worker")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })
	conn := recv(t, m.conns, "accepted connection")
	return c, conn.(*serverConn)
}
