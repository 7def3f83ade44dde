package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/msgpack"
)

// Run connects to the master and serves it until ctx ends or the master
// shuts the worker down (then it returns nil); it dials again, with
// back-off, whenever it cannot connect or loses the connection (a master
// that refused a login as rate-limited is dialed again no sooner than it
// asked, up to BackoffMax: Options.delay). It returns an error only for bad
// options.
func Run(ctx context.Context, o Options) error {
	o, err := o.check()
	if err != nil {
		return err
	}
	w := &worker{o: o, log: o.Log.With("worker", o.Name), commands: map[string]*running{}, shutdown: make(chan struct{})}
	failures := 0
	var lastErr string
	for {
		c, err := msgpack.Dial(ctx, o.Master, o.Name, o.Password, w, msgpack.DialOptions{
			CAFile: o.CAFile, CertFile: o.CertFile, KeyFile: o.KeyFile, Logger: w.log})
		if err == nil {
			failures, lastErr = 0, ""
			w.log.Info("connected to the master", "master", o.Master)
			if o.Connected != nil {
				o.Connected()
			}
			select {
			case <-c.Done():
				w.log.Warn("lost the connection to the master; dialing again", "err", c.Err())
			case <-ctx.Done():
				c.Close("the worker is stopping")
			case <-w.shutdown:
				// The master counts a connection lost once it asked as
				// the shutdown done.
				w.log.Info("the master shut the worker down")
				c.Close("shutting down, as the master asked")
			}
			w.killAll()
			select {
			case <-w.shutdown:
				return nil
			default:
			}
		} else {
			failures++
			level := slog.LevelInfo
			if errors.Is(err, msgpack.ErrUnauthorized) && err.Error() != lastErr {
				level = slog.LevelError
			}
			lastErr = err.Error()
			w.log.Log(ctx, level, "cannot connect to the master", "master", o.Master, "err", err)
		}
		if ctx.Err() != nil {
			w.killAll()
			return nil
		}
		t := time.NewTimer(o.delay(failures, err))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// delay is how long Run waits before its next dial after failures
// consecutive failed ones (0 after a lost connection), the last with err:
// the back-off, or longer when err is a rate-limited login whose master
// said how long to wait (wire.RetryAfter); but never longer than
// BackoffMax for that, whatever the master said.
func (o Options) delay(failures int, err error) time.Duration {
	d := o.Backoff(max(failures, 1))
	if wait, ok := wire.RetryAfter(err); ok {
		d = max(d, min(wait, BackoffMax))
	}
	return d
}

// worker is the msgpack.Handler of every connection of one Run.
type worker struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	commands map[string]*running // by id
	settings msgpack.Settings
	stopping bool
	shutdown chan struct{} // closed when the master shuts the worker down
	wg       sync.WaitGroup
}

// running is a command that runs.
type running struct {
	cancel context.CancelFunc
}

var _ msgpack.Handler = (*worker)(nil)

func (w *worker) Print(_ context.Context, message string) error {
	w.log.Info("message from master: " + message)
	return nil
}

func (w *worker) Keepalive(context.Context) error { return nil }

func (w *worker) WorkerInfo(context.Context) (map[string]any, error) {
	return workerInfo(w.o.Basedir), nil
}

func (w *worker) SetWorkerSettings(_ context.Context, s msgpack.Settings) error {
	w.mu.Lock()
	w.settings = s
	w.mu.Unlock()
	return nil
}

// StartCommand runs cmd on a goroutine of its own; the connection's end
// (conn's) kills it.
func (w *worker) StartCommand(conn context.Context, cmd *msgpack.Command) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		return errors.New("the worker is shutting down")
	}
	if !known[cmd.Name] {
		//lint:ignore ST1005 buildbot-worker's own words, which the master shows
		return fmt.Errorf("Command %s does not exist.", cmd.Name)
	}
	if _, dup := w.commands[cmd.ID]; dup {
		return errors.New("command " + cmd.ID + " is already running")
	}
	ctx, cancel := context.WithCancel(conn)
	w.commands[cmd.ID] = &running{cancel: cancel}
	settings := w.settings
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer cancel()
		w.run(ctx, cmd, settings)
		w.mu.Lock()
		delete(w.commands, cmd.ID)
		w.mu.Unlock()
	}()
	return nil
}

// InterruptCommand kills a running command (one that is not running is
// not an error, as in Buildbot's worker).
func (w *worker) InterruptCommand(_ context.Context, id, why string) error {
	w.mu.Lock()
	r := w.commands[id]
	w.mu.Unlock()
	if r != nil {
		w.log.Info("interrupting a command", "command_id", id, "why", why)
		r.cancel()
	}
	return nil
}

// Shutdown: the master asks the worker to stop (its stop or kill).
func (w *worker) Shutdown(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopping {
		w.stopping = true
		close(w.shutdown)
	}
	return nil
}

// killAll kills the running commands and waits for their ends.
func (w *worker) killAll() {
	w.mu.Lock()
	for _, r := range w.commands {
		r.cancel()
	}
	w.mu.Unlock()
	w.wg.Wait()
}
