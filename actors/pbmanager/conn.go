package pbmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/messages"
)

// Bounds on the calls a connection makes for the master.
const (
	// PingTimeout is how long an old connection has to answer the ping of
	// a duplicate login (Buildbot's PING_TIMEOUT).
	PingTimeout = 10 * time.Second
	// SetupTimeout bounds the worker's info and builder list at attach.
	SetupTimeout = time.Minute
	// callTimeout bounds the other calls (print, shutdown, interrupt).
	callTimeout = 30 * time.Second
)

// link is what a connection's actor keeps across its restarts: the
// logged-in connection, how the login waits for the attach, the commands
// running on it, and what a restarted actor must know to let it go.
type link struct {
	conn     wire.Conn
	protocol string
	answer   func(error) // the login goes on (nil) or is refused; once
	open     *openCommands
	out      *outbox // the starts and interrupts of commands, in order

	// Kept by the actor, one incarnation at a time.
	current *connActor    // the incarnation in charge: a continuation of an earlier one does nothing
	failed  bool          // an incarnation failed: the connection is being dropped
	offered bool          // AttachWorker was sent and not refused: the worker's actor may hold the connection
	lost    []lostCommand // completes of lost commands, held until the worker's actor has let the connection go
}

func newLink(c wire.Conn, protocol string, answer chan<- error) *link {
	var once sync.Once
	return &link{conn: c, protocol: protocol, open: &openCommands{sinks: map[string]*sink{}}, out: &outbox{conn: c},
		answer: func(err error) { once.Do(func() { answer <- err }) }}
}

// connActor is one live worker connection (`master/pbmanager/conn:NAME`),
// whichever its protocol. It attaches the connection to its worker's actor
// (AttachWorker), gets the worker's info and sets its builder list, then
// says WorkerReady and lets the login finish. From then on it runs what the
// worker's actor sends: StartCommand (Forwarded: the sender is the build,
// which gets the CommandUpdates, straight from the connection's reading),
// InterruptCommand, PingWorker, CloseConnection, ShutdownWorker; and it
// sends the worker a keepalive every keepalive_interval, dropping a
// connection that does not answer within it.
//
// A command for a builder the worker does not know yet (added by a
// reconfig) waits while the builder list is set again. When the connection
// ends, the worker's actor is told (ConnectionLost), and only once it has
// answered do the commands still running complete as lost: their builds
// end RETRY after the worker is known to be gone. The actor stops once the
// last one has. Its calls to the worker run on goroutines: its mailbox never
// waits for the network. The starts and interrupts of commands are written
// in the order it decided them (outbox).
//
// An actor that failed (a panic: a bug) is not trusted with the
// connection's protocol state, which its restart loses (the builder list
// the worker has, the commands waiting for it, whether the worker is
// ready): the connection is dropped, as any lost connection. The restarted
// actor does not attach it again; it tells the worker's actor the
// connection is lost (when that actor may hold it), and then every command
// of the connection completes once, as lost (those the failed actor held
// and had not sent at once, those sent when the connection ends), so that
// their builds end RETRY. The worker logs in again by itself, as after any
// drop, on a new connection and a new actor.
type connActor struct {
	rt    *service.Runtime
	l     *link
	name  string
	log   *slog.Logger
	since time.Time
	root  *actor.RootContext
	self  *actor.PID

	worker    *actor.PID
	ready     bool              // info and builder list done: WorkerReady sent
	closing   bool              // the connection ended
	lostAcked bool              // the worker's actor has let it go
	builders  map[string]string // the builder list the worker has: name → builddir
	listing   bool              // a SetBuilderList call runs
	queued    []queuedStart     // commands waiting for it
	ticker    func()
}

type queuedStart struct {
	m *messages.StartCommand
	s *sink
}

// The actor's own messages.
type (
	connDone     struct{}
	keepaliveDue struct{}
	setupDone    struct {
		info     *messages.WorkerInfo
		builders map[string]string
		err      error
	}
	listDone struct {
		builders map[string]string
		err      error
	}
)

func newConnActor(rt *service.Runtime, l *link) actor.Actor {
	name := l.conn.Name()
	return &connActor{rt: rt, l: l, name: name,
		log: rt.Log.With(slog.String("worker", name), slog.String("peer", l.conn.Remote()), slog.String("protocol", l.protocol))}
}

// Receive implements actor.Actor.
func (a *connActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.started(ctx)
	case *actor.Stopping:
		a.stopTicker()
		a.l.answer(errors.New("the master is stopping"))
		a.l.conn.Close("the master is stopping")
		a.stopping(ctx)
	case *actor.Restarting:
		// A connection whose actor failed is dropped; the restarted
		// actor lets it go (started).
		a.stopTicker()
		a.l.failed = true
		a.l.conn.Close(connActorFailed)
	case setupDone:
		a.setupDone(ctx, m)
	case listDone:
		a.listDone(m)
	case *messages.StartCommand:
		a.start(ctx, m)
	case *messages.InterruptCommand:
		a.interrupt(m)
	case *messages.PingWorker:
		to, c := ctx.Sender(), a.l.conn
		go func() {
			pctx, cancel := context.WithTimeout(context.Background(), PingTimeout)
			defer cancel()
			resp := &messages.PingWorkerResponse{Ok: true}
			if err := c.Print(pctx, "master got a duplicate connection"); err != nil {
				resp = &messages.PingWorkerResponse{Error: err.Error()}
			}
			if to != nil {
				a.root.Send(to, resp)
			}
		}()
	case *messages.CloseConnection:
		a.closeConn(m)
	case *messages.ShutdownWorker:
		a.call(a.l.conn.Shutdown)
	case keepaliveDue:
		a.keepalive()
	case lostCommand:
		a.l.open.done(m.update.GetCommandId())
		a.l.lost = append(a.l.lost, m)
		a.flushLost(ctx)
	case connDone:
		a.connDone(ctx)
	}
}

// connActorFailed is why a connection whose actor failed is dropped.
const connActorFailed = "the master's connection actor failed"

func (a *connActor) started(ctx actor.Context) {
	a.since, a.root, a.self = time.Now(), ctx.ActorSystem().Root, ctx.Self()
	a.worker = actor.NewPID(ctx.Self().Address, paths.Worker(a.name))
	a.l.current = a
	a.publish(ctx)
	if a.l.failed {
		a.lose(ctx, connActorFailed)
		return
	}
	c, root, self := a.l.conn, a.root, a.self
	go func() {
		<-c.Done()
		root.Send(self, connDone{})
	}()
	a.l.offered = true
	ask.Async(ctx, a.worker, &messages.AttachWorker{Remote: c.Remote(), Protocol: a.l.protocol, Connection: a.self.Id}, PingTimeout,
		func(r *messages.AttachWorkerResponse, err error) {
			if a.l.current != a {
				return
			}
			switch {
			case err != nil:
				a.l.offered = false
				a.refuse("the worker is not configured on this master (or is being reconfigured): " + err.Error())
			case !r.GetOk():
				a.l.offered = false
				a.refuse(r.GetError())
			case a.closing:
			default:
				a.setup()
			}
		})
}

// refuse ends a connection its worker's actor did not take.
func (a *connActor) refuse(why string) {
	// Within the refusal budget: a worker with the password can be refused
	// (its setup fails) in a loop.
	a.rt.Refusals.Refused(a.l.conn.Remote(), "worker login refused", slog.String("worker", a.name), slog.String("protocol", a.l.protocol),
		slog.String("reason", why))
	err := errors.New("login refused: " + why)
	a.l.answer(err)
	a.l.conn.Close(err.Error())
}

// setup gets the worker's info and sets its builder list: the builders
// that list it in the config in force, as Buildbot does when it attaches a
// worker.
func (a *connActor) setup() {
	c, root, self, protocol := a.l.conn, a.root, a.self, a.l.protocol
	builders := configuredBuilders(a.rt.Config(), a.name)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), SetupTimeout)
		defer cancel()
		done := setupDone{builders: builders}
		m, err := c.Info(ctx)
		if err == nil {
			done.info = workerInfo(m, protocol, c.Remote())
			err = c.SetBuilderList(ctx, builders)
		}
		done.err = err
		root.Send(self, done)
	}()
}

func (a *connActor) setupDone(ctx actor.Context, m setupDone) {
	if a.closing {
		return
	}
	if m.err != nil {
		a.refuse(fmt.Sprintf("attaching the worker: %v", m.err))
		return
	}
	a.ready, a.builders = true, m.builders
	ctx.Send(a.worker, &messages.WorkerReady{Info: m.info, Connection: a.self.Id})
	a.l.answer(nil)
	k := a.keepaliveInterval()
	a.ticker = service.Every(ctx.ActorSystem().Root, k, ctx.Self(), keepaliveDue{})
	a.publish(ctx)
}

// configuredBuilders is the builder list of worker in cfg: every builder
// that lists it, with its builddir.
func configuredBuilders(cfg *messages.MasterConfig, worker string) map[string]string {
	out := map[string]string{}
	for _, b := range cfg.GetBuilders() {
		for _, w := range b.GetWorkers() {
			if w == worker {
				out[b.GetName()] = builddir(b)
				break
			}
		}
	}
	return out
}

func builddir(b *messages.BuilderConfig) string {
	if d := b.GetBuilddir(); d != "" {
		return d
	}
	return b.GetName()
}

// start runs a command the worker's actor forwarded for a build (the
// sender): at once when the worker knows its builder, else once the
// builder list is set again.
func (a *connActor) start(ctx actor.Context, m *messages.StartCommand) {
	s := &sink{id: m.GetCommandId(), builder: m.GetBuilder(), build: ctx.Sender(), root: a.root, conn: a.self,
		worker: a.name, open: a.l.open}
	if s.build == nil {
		return
	}
	if a.l.open.get(s.id) != nil {
		a.root.Send(s.build, failed(s.id, "command id "+s.id+" is already running"))
		return
	}
	a.l.open.add(s)
	if a.closing || !a.ready {
		s.Complete(fmt.Errorf("%w: the connection is closing", wire.ErrConnectionLost))
		return
	}
	if a.builders[m.GetBuilder()] != m.GetBuilddir() {
		a.queued = append(a.queued, queuedStart{m, s})
		a.setBuilderList()
		return
	}
	a.run(m, s)
}

// run hands a command to the connection.
func (a *connActor) run(m *messages.StartCommand, s *sink) {
	wc, err := wireCommand(m, s)
	if err != nil {
		a.log.Warn("cannot run a command", slog.String("command", describe(m)), slog.Any("error", err))
		s.Complete(err)
		return
	}
	// Nothing waits for the worker's answer; every outcome, a refusal
	// included, completes the command (the sink tells the build).
	s.sent.Store(true)
	a.l.out.start(wc)
}

// interrupt stops a running command, once (as Buildbot's
// RemoteCommand.interrupt). The interrupt reaches the worker after the
// command's start; a command whose start was not sent yet (it waits for
// the builder list, or in the outbox) is not sent at all, and completes
// as interrupted.
func (a *connActor) interrupt(m *messages.InterruptCommand) {
	s := a.l.open.get(m.GetCommandId())
	if s == nil || a.closing || s.interrupted.Swap(true) {
		return
	}
	if i := slices.IndexFunc(a.queued, func(q queuedStart) bool { return q.s == s }); i >= 0 {
		a.queued = slices.Delete(a.queued, i, i+1)
		s.Complete(interruptedBeforeStart(m.GetWhy()))
		return
	}
	log := a.log
	a.l.out.interrupt(s.builder, s.id, m.GetWhy(), func(err error) {
		if err != nil {
			log.Info("interrupting a command failed", slog.String("command", s.id), slog.Any("error", err))
		}
	})
}

func failed(id, why string) *messages.CommandUpdate {
	return &messages.CommandUpdate{CommandId: id, Kind: &messages.CommandUpdate_Complete{
		Complete: &messages.CommandComplete{Rc: -1, Error: why}}}
}

// setBuilderList sets the worker's builder list again, to the builders the
// config lists it on, those it has, and those the queued commands need. It
// never drops a builder the worker has (one a reconfig removed included):
// a start decided for it may still wait in the outbox, and PB finds the
// builder's reference when the start is written (pb's Start).
func (a *connActor) setBuilderList() {
	if a.listing {
		return
	}
	a.listing = true
	want := configuredBuilders(a.rt.Config(), a.name)
	maps.Copy(want, a.builders)
	for _, q := range a.queued {
		want[q.m.GetBuilder()] = q.m.GetBuilddir()
	}
	c, root, self := a.l.conn, a.root, a.self
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), SetupTimeout)
		defer cancel()
		root.Send(self, listDone{builders: want, err: c.SetBuilderList(ctx, want)})
	}()
}

func (a *connActor) listDone(m listDone) {
	a.listing = false
	queued := a.queued
	a.queued = nil
	if m.err != nil {
		a.log.Warn("cannot set the worker's builder list", slog.Any("error", m.err))
		for _, q := range queued {
			q.s.Complete(fmt.Errorf("setting the worker's builder list: %w", m.err))
		}
		return
	}
	a.builders = m.builders
	for _, q := range queued {
		if a.builders[q.m.GetBuilder()] == q.m.GetBuilddir() {
			a.run(q.m, q.s)
		} else {
			a.queued = append(a.queued, q)
		}
	}
	if len(a.queued) > 0 {
		a.setBuilderList()
	}
}

// call runs fn on a goroutine, bounded by callTimeout; a failure is
// logged.
func (a *connActor) call(fn func(context.Context) error) {
	log := a.log
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if err := fn(ctx); err != nil {
			log.Info("call to the worker failed", slog.Any("error", err))
		}
	}()
}

// closeConn prints the message on the worker, asks it to shut down when
// asked to, and drops the connection.
func (a *connActor) closeConn(m *messages.CloseConnection) {
	c := a.l.conn
	a.log.Info("closing the worker's connection", slog.String("reason", m.GetReason()))
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if m.GetMessage() != "" {
			_ = c.Print(ctx, m.GetMessage())
		}
		if m.GetShutdown() {
			_ = c.Shutdown(ctx)
		}
		c.Close(m.GetReason())
	}()
}

func (a *connActor) keepaliveInterval() time.Duration {
	for _, w := range a.rt.Config().GetWorkers() {
		if w.GetName() == a.name && w.GetKeepaliveInterval().AsDuration() > 0 {
			return w.GetKeepaliveInterval().AsDuration()
		}
	}
	return config.DefaultKeepalive
}

// keepalive sends the worker a keepalive; a connection that does not
// answer within the interval is dropped.
func (a *connActor) keepalive() {
	if a.closing {
		return
	}
	c, k, log := a.l.conn, a.keepaliveInterval(), a.log
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), k)
		defer cancel()
		if err := c.Keepalive(ctx); err != nil && c.Err() == nil {
			log.Warn("dropping a worker connection: no answer to a keepalive", slog.Duration("within", k), slog.Any("error", err))
			c.Close(fmt.Sprintf("no answer to a keepalive within %s", k))
		}
	}()
}

func (a *connActor) stopTicker() {
	if a.ticker != nil {
		a.ticker()
		a.ticker = nil
	}
}

// connDone: the connection ended.
func (a *connActor) connDone(ctx actor.Context) {
	if a.closing {
		return
	}
	reason := "connection lost"
	if err := a.l.conn.Err(); err != nil {
		reason = err.Error()
	}
	a.lose(ctx, reason)
}

// lose lets the ended (or dropped) connection go: a login still waiting
// is refused, the commands the actor holds (not sent to the connection)
// complete as lost, and the worker's actor is told (ConnectionLost) when
// it may hold the connection; the completes of lost commands go to their
// builds once it has answered.
func (a *connActor) lose(ctx actor.Context, reason string) {
	a.closing = true
	a.stopTicker()
	a.l.answer(errors.New("the connection ended: " + reason))
	a.queued = nil
	for _, s := range a.l.open.held() {
		s.Complete(fmt.Errorf("%w: %s", wire.ErrConnectionLost, reason))
	}
	if !a.l.offered {
		a.lostAcked = true
		a.flushLost(ctx)
		return
	}
	a.log.Debug("worker connection ended", slog.String("reason", reason)) // botmaster logs "worker detached", within a budget
	ask.Async(ctx, a.worker, &messages.ConnectionLost{Reason: reason, Connection: a.self.Id}, PingTimeout,
		func(_ *messages.ConnectionLostResponse, err error) {
			if a.l.current != a {
				return
			}
			if err != nil {
				a.log.Info("the worker's actor did not answer ConnectionLost; completing its commands", slog.Any("error", err))
			}
			a.lostAcked = true
			a.flushLost(ctx)
		})
}

// flushLost completes the lost commands once the worker's actor has let
// the connection go, and stops the actor when none is left running, after
// the messages already in its mailbox: a command the worker's actor
// forwarded before it let the connection go may wait there (its answer to
// ConnectionLost, a continuation, overtakes them), and completes as lost
// (stopping).
func (a *connActor) flushLost(ctx actor.Context) {
	if !a.lostAcked {
		return
	}
	lost := a.l.lost
	a.l.lost = nil
	for _, l := range lost {
		ctx.Send(l.build, l.update)
	}
	if a.l.open.count() == 0 {
		ctx.Poison(ctx.Self())
	}
}

// stopping: the actor stops (the master stops, or it failed past its
// restart limit) while commands of the connection may still be open.
// Nothing would complete them: the completes it holds and those in its
// mailbox go to their builds now, the commands it holds complete as lost
// now, and those still running on the worker complete as lost straight to
// their builds when the connection ends.
func (a *connActor) stopping(ctx actor.Context) {
	lost := append(a.l.lost, a.l.open.stop()...)
	a.l.lost = nil
	for _, l := range lost {
		ctx.Send(l.build, l.update)
	}
	for _, s := range a.l.open.held() {
		s.Complete(fmt.Errorf("%w: the master's connection actor stopped", wire.ErrConnectionLost))
	}
}

func (a *connActor) publish(ctx actor.Context) {
	if n := service.NodeOf(ctx, a.rt); n != nil {
		n.SetState(&messages.ConnectionState{Worker: a.name, Protocol: a.l.protocol, Remote: a.l.conn.Remote(),
			Since: timestamppb.New(a.since), Ready: a.ready})
	}
}
