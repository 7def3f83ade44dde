package msgpack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// serverConn is one worker connection on the master: wire.Conn.
type serverConn struct {
	p        *peer
	name     string
	remote   string
	log      *slog.Logger
	settings Settings

	mu       sync.Mutex
	loggedIn bool
	info     map[string]any      // the latest get_worker_info answer
	builders map[string]string   // builder name → its directory on the worker
	commands map[string]*command // open commands by id

	// setupSeq numbers the commands SetBuilderList runs: ids
	// "setup-N", which a caller's ids must not look like.
	setupSeq atomic.Int64

	// heldMu guards held, the updates of one command not yet handed to
	// its Sink (hold); taken before a command's mu, never after.
	heldMu sync.Mutex
	held   heldUpdates
}

var _ wire.Conn = (*serverConn)(nil)

func newServerConn(ws *websocket.Conn, name, remote string, log *slog.Logger, frames *framePool, opts ServerOptions) *serverConn {
	c := &serverConn{
		p:    newPeer(ws, log, frames, opts.MaxFrame, opts.WriteTimeout),
		name: name, remote: remote, log: log, settings: opts.Settings,
		commands: map[string]*command{},
	}
	c.p.dispatch = c.dispatch
	c.p.ignored = func(msg string, attrs ...slog.Attr) {
		opts.Refusals.Refused(remote, msg, append(attrs, slog.String("worker", name))...)
	}
	return c
}

// serve reads the worker's frames until the connection ends, then
// completes the commands still open.
func (c *serverConn) serve() error {
	err := c.p.run()
	c.completeAll(err)
	return err
}

// login asks for the worker's info and sends the worker settings; then
// the worker's requests are served.
func (c *serverConn) login(ctx context.Context) error {
	if _, err := c.Info(ctx); err != nil {
		return err
	}
	if _, err := c.p.call(ctx, "set_worker_settings", frame{"args": c.settings.args()}); err != nil {
		return err
	}
	c.mu.Lock()
	c.loggedIn = true
	c.mu.Unlock()
	c.log.Debug("worker logged in") // botmaster logs "worker attached", within a budget
	return nil
}

func (c *serverConn) Name() string   { return c.name }
func (c *serverConn) Remote() string { return c.remote }

func (c *serverConn) Print(ctx context.Context, msg string) error {
	_, err := c.p.call(ctx, "print", frame{"message": msg})
	return err
}

func (c *serverConn) Keepalive(ctx context.Context) error {
	_, err := c.p.call(ctx, "keepalive", frame{})
	return err
}

// Info asks get_worker_info; the answer is kept for the paths of later
// commands (basedir, system, environ).
func (c *serverConn) Info(ctx context.Context) (map[string]any, error) {
	v, err := c.p.call(ctx, "get_worker_info", frame{})
	if err != nil {
		return nil, err
	}
	info, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("get_worker_info: answer is a %T, want a map", v)
	}
	c.mu.Lock()
	c.info = info
	c.mu.Unlock()
	return info, nil
}

// Interrupt implements wire.Conn.Interrupt.
func (c *serverConn) Interrupt(builder, id, why string, answered func(error)) error {
	f := frame{"op": "interrupt_command", "builder_name": builder, "command_id": id, "why": why}
	_, err := c.p.request(f, func(_ any, err error) {
		var re *RemoteError
		switch {
		case answered == nil:
			return
		case errors.As(err, &re):
			re.Op = "interrupt_command"
		case err != nil:
			err = fmt.Errorf("interrupt_command: %w", err)
		}
		answered(err)
	})
	if err != nil {
		return fmt.Errorf("interrupt_command: %w", err)
	}
	return nil
}

// Shutdown asks the worker to stop. Buildbot's worker stops its reactor
// right after answering, so a connection lost once the request is out
// counts as done.
func (c *serverConn) Shutdown(ctx context.Context) error {
	_, err := c.p.call(ctx, "shutdown", frame{})
	if errors.Is(err, wire.ErrConnectionLost) && c.p.Err() != nil {
		return nil
	}
	return err
}

func (c *serverConn) Close(reason string) {
	c.log.Debug("closing worker connection", "reason", reason) // the closer logs why (pbmanager: a refusal within its budget)
	c.p.close(websocket.StatusNormalClosure, reason)
}

func (c *serverConn) Done() <-chan struct{} { return c.p.Done() }
func (c *serverConn) Err() error            { return c.p.Err() }

// dispatch answers the worker's requests: the ops about a command it
// runs. Before the login has finished, none is obeyed.
func (c *serverConn) dispatch(ctx context.Context, op string, f frame) (any, error) {
	c.mu.Lock()
	in := c.loggedIn
	c.mu.Unlock()
	if !in {
		return nil, answer("Worker not authenticated.")
	}
	h, ok := workerOps[op]
	if !ok {
		return nil, answer(fmt.Sprintf("Command %s does not exist.", op))
	}
	if _, ok := f["command_id"]; !ok {
		return nil, answer(`message did not contain obligatory "command_id" key`)
	}
	if op != "update" && op != "complete" {
		c.deliverHeld()
	}
	id, _ := f.str("command_id")
	cmd := c.command(id)
	if cmd == nil {
		return nil, answer(`unknown "command_id"`)
	}
	return h(c, cmd, f)
}
