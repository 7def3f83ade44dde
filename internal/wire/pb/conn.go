package pb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/buildmaster/buildmaster/internal/wire"
)

// conn is a logged-in worker connection: the wire.Conn the master uses.
// Calls go to the worker's mind (its bot) or to the per-builder
// references SetBuilderList returned.
type conn struct {
	srv    *Server
	b      *broker
	name   string
	remote string
	mind   RemoteRef
	ctx    context.Context // ends with the connection
	cancel context.CancelFunc
	// shutdowns budgets the worker's requests to shut down
	// (ShutdownBurst, ShutdownEvery).
	shutdowns *rate.Limiter

	mu       sync.Mutex
	builders map[string]RemoteRef
	commands map[string]*command // started and not completed, by id
	lostErr  error               // set once the connection ended
}

var _ wire.Conn = (*conn)(nil)

// A connection's requests to shut down are logged and passed on
// (Config.ShutdownRequested) ShutdownBurst at once, then one more each
// ShutdownEvery; the others are only answered. A worker may ask again
// (after the master's operator cancelled its stop), but cannot fill the
// log by asking in a loop.
const (
	ShutdownBurst = 10
	ShutdownEvery = 10 * time.Second
)

func newConn(srv *Server, b *broker, name, remote string, mind RemoteRef) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv: srv, b: b, name: name, remote: remote, mind: mind,
		ctx: ctx, cancel: cancel,
		shutdowns: rate.NewLimiter(rate.Every(ShutdownEvery), ShutdownBurst),
		builders:  map[string]RemoteRef{},
		commands:  map[string]*command{},
	}
}

func (c *conn) Name() string   { return c.name }
func (c *conn) Remote() string { return c.remote }

// Print calls the worker's print(message=msg), which it logs.
func (c *conn) Print(ctx context.Context, msg string) error {
	_, err := c.b.callRemote(ctx, c.mind, "print", nil, map[string]any{"message": msg})
	return wrap("print", err)
}

// Keepalive is Buildbot's master-side PB keepalive: print("keepalive").
func (c *conn) Keepalive(ctx context.Context) error {
	return c.Print(ctx, "keepalive")
}

// Info calls getWorkerInfo, which a 3.x worker answers with its version
// and worker_commands included; what it lacks of those two (a buildslave
// has no getWorkerInfo at all) is asked with getCommands and getVersion,
// and merged in.
func (c *conn) Info(ctx context.Context) (map[string]any, error) {
	info := map[string]any{}
	v, err := c.b.callRemote(ctx, c.mind, "getWorkerInfo", nil, nil)
	switch {
	case err == nil:
		m, ok := neutral(v).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("pb: getWorkerInfo answered %T, not a dictionary", v)
		}
		info = m
	case !errors.Is(err, ErrNoSuchMethod):
		return nil, wrap("getWorkerInfo", err)
	}
	for _, f := range [...]struct{ key, method string }{
		{"worker_commands", "getCommands"}, {"version", "getVersion"},
	} {
		if _, ok := info[f.key]; ok {
			continue
		}
		v, err := c.b.callRemote(ctx, c.mind, f.method, nil, nil)
		switch {
		case err == nil:
			info[f.key] = neutral(v)
		case !errors.Is(err, ErrNoSuchMethod):
			return nil, wrap(f.method, err)
		}
	}
	return info, nil
}

// SetBuilderList sends [(name, builddir)…] sorted by name and keeps the
// per-builder references the worker answers; it drops (decrefs) the ones
// of the previous list.
func (c *conn) SetBuilderList(ctx context.Context, builders map[string]string) error {
	names := make([]string, 0, len(builders))
	for name := range builders {
		names = append(names, name)
	}
	slices.Sort(names)
	list := make([]any, len(names))
	for i, name := range names {
		list[i] = Tuple{name, builders[name]}
	}
	v, err := c.b.callRemote(ctx, c.mind, "setBuilderList", Tuple{list}, nil)
	if err != nil {
		return wrap("setBuilderList", err)
	}
	answer, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("pb: setBuilderList answered %T, not a dictionary", v)
	}
	refs := make(map[string]RemoteRef, len(answer))
	for name, ref := range answer {
		r, ok := ref.(RemoteRef)
		if !ok {
			return fmt.Errorf("pb: setBuilderList answered %T for builder %q, not a reference", ref, name)
		}
		refs[name] = r
	}
	c.mu.Lock()
	old := c.builders
	c.builders = refs
	c.mu.Unlock()
	for _, r := range old {
		c.b.sendDecref(r)
	}
	for _, name := range names {
		if _, ok := refs[name]; !ok {
			return fmt.Errorf("pb: the worker did not take builder %q", name)
		}
	}
	return nil
}

func (c *conn) builder(name string) (RemoteRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref, ok := c.builders[name]
	if !ok {
		return 0, fmt.Errorf("pb: builder %q is not in the worker's builder list", name)
	}
	return ref, nil
}

// Interrupt implements wire.Conn.Interrupt: interruptCommand(id, why) on
// the builder's reference. The worker interrupts the command it runs for
// that builder.
func (c *conn) Interrupt(builder, id, why string, answered func(error)) error {
	ref, err := c.builder(builder)
	if err != nil {
		return err
	}
	_, err = c.b.send(ref, "interruptCommand", Tuple{id, why}, nil, func(r result) {
		if answered != nil {
			answered(wrap("interruptCommand", r.err))
		}
	})
	return wrap("interruptCommand", err)
}

// Shutdown calls the worker's shutdown; the connection dropping before
// the answer counts as done, as with Buildbot.
func (c *conn) Shutdown(ctx context.Context) error {
	_, err := c.b.callRemote(ctx, c.mind, "shutdown", nil, nil)
	if errors.Is(err, ErrConnectionLost) {
		return nil
	}
	return wrap("shutdown", err)
}

// Close drops the connection.
func (c *conn) Close(reason string) {
	c.b.close(errors.New(reason))
}

func (c *conn) Done() <-chan struct{} { return c.b.done }

// Err says why the connection ended; nil while it lives.
func (c *conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostErr
}

// closed runs when the connection has ended: every open command is
// completed with the connection-lost error.
func (c *conn) closed(err error) {
	c.cancel()
	c.mu.Lock()
	c.lostErr = err
	open := make([]*command, 0, len(c.commands))
	for _, cmd := range c.commands {
		open = append(open, cmd)
	}
	c.mu.Unlock()
	for _, cmd := range open {
		cmd.finish(nil, err)
	}
}

func wrap(method string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("pb: %s: %w", method, err)
}

// neutral turns decoded jelly into the plain values both protocols share:
// tuples become []any.
func neutral(v any) any {
	switch v := v.(type) {
	case Tuple:
		return neutral([]any(v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = neutral(e)
		}
		return out
	case map[string]any:
		for k, e := range v {
			v[k] = neutral(e)
		}
		return v
	}
	return v
}
