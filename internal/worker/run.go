package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/remoting"
	"github.com/buildmaster/buildmaster/messages"
)

// Shutdown timing: how long the worker waits for killed commands to end
// (a shell command gives up 5 s after SIGKILL), and for its farewell
// (FromWorker.detach) to be written before the connection is closed.
const (
	killWait      = 10 * time.Second
	farewellGrace = 300 * time.Millisecond
	// stableSession is how long a session must have lasted for the
	// back-off to start again from the beginning after it is lost.
	stableSession = time.Minute
)

// worker is Run's state, used on Run's goroutine only (lost and shutdown
// are written by others).
type worker struct {
	o         Options
	log       *slog.Logger
	system    *actor.ActorSystem
	remote    *remote.Remote
	addr      string     // this worker's remote endpoint
	pbmanager *actor.PID // the master's
	agent     *actor.PID
	lost      chan struct{} // the connection to the master is gone
	shutdown  chan bool     // the master's WorkerShutdown (graceful)
	sub       *eventstream.Subscription
	draining  bool // the master asked for a graceful shutdown
}

// Run runs a worker until ctx ends or the master shuts it down; see the
// package documentation. It returns an error only for bad options or when
// the worker cannot start (e.g. the listen address is taken).
func Run(ctx context.Context, opts Options) error {
	o, err := opts.check()
	if err != nil {
		return err
	}
	w, err := start(o)
	if err != nil {
		return err
	}
	defer w.close()
	w.loop(ctx)
	return nil
}

func start(o Options) (*worker, error) {
	lib := o.LibLog
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return lib }))
	r, addr, err := remoting.Start(system, o.Listen, &remoting.Policy{
		Targets: map[string][]proto.Message{paths.WorkerAgent: {&messages.ToWorker{}}},
		Futures: true,
		Log:     o.Log,
	})
	if err != nil {
		system.Shutdown()
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &worker{
		o: o, log: o.Log.With("worker", o.Name), system: system, remote: r, addr: addr,
		pbmanager: actor.NewPID(o.Master, paths.PBManager),
		lost:      make(chan struct{}, 1),
		shutdown:  make(chan bool, 4),
	}
	// The connection to the master is lost when protoactor says so, or when
	// a message to it could not be sent.
	w.sub = system.EventStream.Subscribe(func(ev any) {
		lost := false
		switch e := ev.(type) {
		case *remote.EndpointTerminatedEvent:
			lost = e.Address == o.Master
		case *actor.DeadLetterEvent:
			lost = e.PID != nil && e.PID.Address == o.Master
		case *masterDetached:
			lost = true
		}
		if lost {
			select {
			case w.lost <- struct{}{}:
			default:
			}
		}
	})
	ag := newAgent(w.log, o.Basedir, w.shutdown)
	w.agent, err = system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return ag }), paths.WorkerAgent)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("worker: %w", err)
	}
	w.log.Info("worker started", "master", o.Master, "listen", addr, "basedir", o.Basedir)
	return w, nil
}

func (w *worker) close() {
	w.system.EventStream.Unsubscribe(w.sub)
	remoting.Stop(w.system, w.remote)
	w.system.Shutdown()
}

// loop logs in, serves the session, and again after a lost master, until
// ctx ends or the master shuts the worker down.
func (w *worker) loop(ctx context.Context) {
	failures := 0
	for {
		lk, err := w.login(ctx, &failures)
		if err != nil {
			w.log.Info("worker stopping")
			return
		}
		prev := failures
		failures = 0
		w.log.Info("logged in", "master", w.o.Master, "keepalive", lk.keepalive)
		w.system.Root.Send(w.agent, &attach{link: lk})
		if w.o.Connected != nil {
			w.o.Connected()
		}
		began := time.Now()
		switch end := w.session(ctx, lk); end {
		case endLost:
			if w.draining || w.shutdownAsked() {
				w.log.Warn("lost the connection to the master while shutting down; killing the running commands")
				w.stopCommands(&stopCommands{refuse: true, detach: true, why: "lost the connection to the master"})
				return
			}
			w.log.Warn("lost the connection to the master; logging in again", "master", w.o.Master)
			w.stopCommands(&stopCommands{detach: true, why: "lost the connection to the master"})
			failures = 1
			if time.Since(began) < stableSession {
				failures = prev + 1
			}
		default:
			why := map[sessionEnd]string{endStop: "the worker is stopping", endShutdown: "the master shut the worker down"}[end]
			w.log.Info("worker stopping", "why", why)
			// The commands end (graceful shutdown: have ended) and report
			// it before the farewell.
			w.stopCommands(&stopCommands{refuse: true, why: why})
			lk.send(&messages.FromWorker{Kind: &messages.FromWorker_Detach{Detach: why}})
			w.system.Root.Send(w.agent, &stopCommands{refuse: true, detach: true, why: why})
			time.Sleep(farewellGrace) // best effort: let the writer send it
			return
		}
	}
}

type sessionEnd int

const (
	endLost     sessionEnd = iota // the master is gone
	endStop                       // ctx ended
	endShutdown                   // the master said so (after the running commands, if graceful)
)

// session keeps the session alive until it ends.
func (w *worker) session(ctx context.Context, lk *link) sessionEnd {
	tick := time.NewTicker(lk.keepalive)
	defer tick.Stop()
	var idle chan struct{} // graceful shutdown: closed when no command runs
	for {
		select {
		case <-ctx.Done():
			return endStop
		case <-w.lost:
			return endLost
		case graceful := <-w.shutdown:
			if !graceful {
				return endShutdown
			}
			w.draining = true
			if idle == nil {
				idle = make(chan struct{})
				w.system.Root.Send(w.agent, &waitIdle{ch: idle})
			}
		case <-idle:
			return endShutdown
		case <-tick.C:
			lk.sendKeepalive()
		}
	}
}

// shutdownAsked reports whether the master asked for a shutdown that
// session has not seen yet.
func (w *worker) shutdownAsked() bool {
	select {
	case <-w.shutdown:
		return true
	default:
		return false
	}
}

// stopCommands interrupts the running commands and waits until they have
// ended, at most killWait.
func (w *worker) stopCommands(m *stopCommands) {
	w.system.Root.Send(w.agent, m)
	idle := make(chan struct{})
	w.system.Root.Send(w.agent, &waitIdle{ch: idle})
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
		w.log.Warn("commands still running after they were killed; going on without them", "waited", killWait)
	}
}
