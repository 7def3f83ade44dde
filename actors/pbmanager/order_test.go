package pbmanager

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/msgpack"
	"github.com/buildmaster/buildmaster/messages"
)

// These tests run a connection's actor on a real msgpack connection to a
// worker of the test's own, through a gate that holds the write of one
// command's start: what the actor decides meanwhile must reach the worker
// after that start, whichever goroutine writes it.

// TestInterruptFollowsItsStart: an interrupt decided while its command's
// start is being written reaches the worker after the start, and stops
// the command (without the outbox the interrupt overtook the start: the
// worker ignored it and ran the command to its end).
func TestInterruptFollowsItsStart(t *testing.T) {
	o := newOrderRig(t, "1")
	o.start("1", "hold")
	testkit.Recv(t, "the start of command 1 held", o.gate.held)
	o.interrupt("1")
	o.releaseWhen(t, func() bool { return o.gate.saw("interrupt 1") || o.queued() == 1 })
	if got := o.worker.next(t, 2); !slices.Equal(got, []string{"start 1", "interrupt 1"}) {
		t.Fatalf("the worker got %q, want the start then the interrupt", got)
	}
	if c := o.complete(t, "1"); !c.GetInterrupted() || c.GetLostConnection() {
		t.Fatalf("command 1 completed %v, want interrupted", c)
	}
}

// TestStartsInOrder: commands started while the first start is being
// written reach the worker in the order the actor got them.
func TestStartsInOrder(t *testing.T) {
	const n = 8
	o := newOrderRig(t, "1")
	var want []string
	for i := 1; i <= n; i++ {
		o.start(fmt.Sprint(i), "run")
		want = append(want, fmt.Sprintf("start %d", i))
	}
	testkit.Recv(t, "the start of command 1 held", o.gate.held)
	o.releaseWhen(t, func() bool { return o.gate.saw("start 2") || o.queued() == n-1 })
	if got := o.worker.next(t, n); !slices.Equal(got, want) {
		t.Fatalf("the worker got %q, want %q", got, want)
	}
	for i := 1; i <= n; i++ {
		if c := o.complete(t, fmt.Sprint(i)); c.GetError() != "" || c.GetRc() != 0 {
			t.Fatalf("command %d completed %v", i, c)
		}
	}
}

// TestInterruptBeforeStartIsNotSent: a command interrupted while its start
// waits behind another's is never sent; it completes at once, interrupted
// (its step is CANCELLED, as Buildbot's stopped step that has not run its
// command).
func TestInterruptBeforeStartIsNotSent(t *testing.T) {
	o := newOrderRig(t, "1")
	o.start("1", "run")
	testkit.Recv(t, "the start of command 1 held", o.gate.held)
	o.start("2", "hold")
	o.interrupt("2")
	c := o.complete(t, "2")
	if !c.GetInterrupted() || !strings.Contains(c.GetError(), "interrupted before it was sent to the worker: the test stops it") {
		t.Fatalf("command 2 completed %v, want interrupted before it was sent", c)
	}
	close(o.gate.release)
	if c := o.complete(t, "1"); c.GetError() != "" {
		t.Fatalf("command 1 completed %v", c)
	}
	o.start("3", "run")
	o.complete(t, "3")
	if got := o.worker.next(t, 2); !slices.Equal(got, []string{"start 1", "start 3"}) {
		t.Fatalf("the worker got %q, want commands 1 and 3 only", got)
	}
}

// TestInterruptWhileTheBuilderListIsSet: a command interrupted while it
// waits for the worker's builder list to take its builder is never sent;
// it completes at once, interrupted.
func TestInterruptWhileTheBuilderListIsSet(t *testing.T) {
	o := newOrderRig(t, "")
	o.holdBuilderLists()
	o.startOn("1", "b2", "hold")
	testkit.Recv(t, "the builder list's mkdir", o.worker.mkdirs)
	o.interrupt("1")
	c := o.complete(t, "1")
	if !c.GetInterrupted() || !strings.Contains(c.GetError(), "interrupted before it was sent to the worker") {
		t.Fatalf("command 1 completed %v, want interrupted before it was sent", c)
	}
	testkit.Recv(t, "the builder list's mkdir to end", o.worker.mkdirs)
	o.start("2", "run")
	o.complete(t, "2")
	if got := o.worker.next(t, 1); !slices.Equal(got, []string{"start 2"}) {
		t.Fatalf("the worker got %q, want command 2 only", got)
	}
}

// orderRig is a connection's actor for worker w1 on a real msgpack
// connection (through gate), with a fake worker's actor that attaches it
// and a build actor that collects its commands' completes.
type orderRig struct {
	t      *testing.T
	root   *actor.RootContext
	conn   *actor.PID
	build  *actor.PID
	l      *link
	gate   *gate
	worker *orderWorker
	done   chan *messages.CommandUpdate
	events *eventLog // what the worker's actor and the build got, in order
	// onLost, when set, is what the worker's actor does with ConnectionLost
	// (it answers it).
	onLost func(ctx actor.Context)
}

// eventLog is what the fake worker's actor got (attach, ready, lost) and
// the completes the build got (complete ID), in the order they came.
type eventLog struct {
	mu   sync.Mutex
	list []string
}

func (e *eventLog) add(ev string) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
}

func (e *eventLog) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

func newOrderRig(t *testing.T, hold string, wrap ...func(actor.Producer) actor.Producer) *orderRig {
	log := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	t.Cleanup(system.Shutdown)
	cfg := &messages.MasterConfig{
		Workers:  []*messages.WorkerConfig{{Name: "w1"}},
		Builders: []*messages.BuilderConfig{{Name: "b1", Workers: []string{"w1"}}},
	}
	rt := service.NewRuntime(system, log, cfg, func(any) {})
	o := &orderRig{t: t, root: system.Root, worker: newOrderWorker(), done: make(chan *messages.CommandUpdate, 64), events: &eventLog{}}

	ready := make(chan struct{}, 1)
	if _, err := system.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *messages.AttachWorker:
			o.events.add("attach")
			ctx.Respond(&messages.AttachWorkerResponse{Ok: true})
		case *messages.WorkerReady:
			o.events.add("ready")
			ready <- struct{}{}
		case *messages.ConnectionLost:
			o.events.add("lost")
			if o.onLost != nil {
				o.onLost(ctx)
				return
			}
			ctx.Respond(&messages.ConnectionLostResponse{})
		}
	}), paths.Worker("w1")); err != nil {
		t.Fatal(err)
	}
	o.build = system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *messages.CommandUpdate:
			if m.GetComplete() != nil {
				o.events.add("complete " + m.GetCommandId())
				o.done <- m
			}
		case chan struct{}: // noMoreCompletes
			close(m)
		}
	}))

	conns := make(chan wire.Conn, 1)
	srv, err := msgpack.NewServer(orderAuth{}, func(c wire.Conn) { conns <- c }, msgpack.ServerOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: testkit.DefaultTimeout}
	go func() { _ = hs.Serve(lis) }()
	t.Cleanup(func() { srv.Close("test over"); _ = hs.Close() })
	c, err := msgpack.Dial(t.Context(), "ws://"+lis.Addr().String(), "w1", "pw", o.worker, msgpack.DialOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close("test over") })

	o.gate = &gate{Conn: testkit.Recv(t, "the worker's connection", conns), hold: hold,
		held: make(chan struct{}), release: make(chan struct{})}
	o.l = newLink(o.gate, "msgpack", make(chan error, 1))
	produce := actor.Producer(func() actor.Actor { return newConnActor(rt, o.l) })
	for _, w := range wrap {
		produce = w(produce)
	}
	if o.conn, err = system.Root.SpawnNamed(actor.PropsFromProducer(produce), paths.Conn("w1")); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, "the worker ready", ready)
	return o
}

func (o *orderRig) start(id, script string) { o.startOn(id, "b1", script) }

// startOn starts command id on builder (its builddir of the same name).
func (o *orderRig) startOn(id, builder, script string) {
	o.root.RequestWithCustomSender(o.conn, &messages.StartCommand{CommandId: id, Builder: builder, Builddir: builder,
		Command: &messages.StartCommand_Shell{Shell: &messages.ShellCommand{Script: script, Workdir: "build"}}}, o.build)
}

// holdBuilderLists makes the worker report each mkdir of a builder list
// on o.worker.mkdirs and wait there until the test takes it again.
func (o *orderRig) holdBuilderLists() {
	o.worker.mu.Lock()
	o.worker.mkdirs = make(chan struct{})
	o.worker.mu.Unlock()
}

func (o *orderRig) interrupt(id string) {
	o.root.Send(o.conn, &messages.InterruptCommand{CommandId: id, Why: "the test stops it"})
}

// releaseWhen lets the held start go once cond holds: the call that
// would overtake it reached the connection, or the actor queued the calls
// behind it.
func (o *orderRig) releaseWhen(t *testing.T, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, "the calls behind the held start decided", cond)
	close(o.gate.release)
}

// queued is how many calls wait in the connection's outbox.
func (o *orderRig) queued() int {
	o.l.out.mu.Lock()
	defer o.l.out.mu.Unlock()
	return len(o.l.out.queue)
}

// complete waits for command id's complete.
func (o *orderRig) complete(t *testing.T, id string) *messages.CommandComplete {
	t.Helper()
	for {
		u := testkit.Recv(t, "command "+id+"'s complete", o.done)
		if u.GetCommandId() == id {
			return u.GetComplete()
		}
		o.done <- u // another command's: keep it for its own wait
	}
}

// gate is the connection, but the write of command hold's start waits
// for release; it notes the calls that reach it.
type gate struct {
	wire.Conn
	hold    string
	held    chan struct{}
	release chan struct{}

	mu   sync.Mutex
	seen []string
}

func (g *gate) note(call string) {
	g.mu.Lock()
	g.seen = append(g.seen, call)
	g.mu.Unlock()
}

func (g *gate) saw(call string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Contains(g.seen, call)
}

func (g *gate) Start(wc wire.Command) {
	g.note("start " + wc.ID)
	if wc.ID == g.hold {
		close(g.held)
		<-g.release
	}
	g.Conn.Start(wc)
}

func (g *gate) Interrupt(builder, id, why string, answered func(error)) error {
	g.note("interrupt " + id)
	return g.Conn.Interrupt(builder, id, why, answered)
}

type orderAuth struct{}

func (orderAuth) Password(context.Context, string, string) (string, bool, error) {
	return "pw", true, nil
}

// orderWorker notes the shell commands it starts and the interrupts it
// gets, in the order they come. A shell command "hold" runs until
// interrupted (it ends with rc -1); any other completes with rc 0. An
// interrupt for a command it does not run is ignored, as Buildbot's
// worker does.
type orderWorker struct {
	events chan string
	mu     sync.Mutex
	held   map[string]*msgpack.Command
	// mkdirs, when set, is told of the builder list's mkdir, which then
	// completes once told again.
	mkdirs chan struct{}
}

func newOrderWorker() *orderWorker {
	return &orderWorker{events: make(chan string, 64), held: map[string]*msgpack.Command{}}
}

// next waits for the next n events.
func (w *orderWorker) next(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	for range n {
		got = append(got, testkit.Recv(t, "the worker's next event", w.events))
	}
	return got
}

func (w *orderWorker) StartCommand(_ context.Context, cmd *msgpack.Command) error {
	if cmd.Name != "shell" { // the builder list's listdir and mkdir
		w.mu.Lock()
		mkdirs := w.mkdirs
		w.mu.Unlock()
		go func() {
			if mkdirs != nil && cmd.Name == "mkdir" {
				mkdirs <- struct{}{} // it came
				mkdirs <- struct{}{} // it may go on
			}
			_ = cmd.Finish(context.Background(), []wire.Update{{Key: "files", Value: []any{}}, {Key: "rc"}}, nil)
		}()
		return nil
	}
	w.events <- "start " + cmd.ID
	if cmd.Args["command"] == "hold" {
		w.mu.Lock()
		w.held[cmd.ID] = cmd
		w.mu.Unlock()
		return nil
	}
	go func() { _ = cmd.Finish(context.Background(), []wire.Update{{Key: "rc"}}, nil) }()
	return nil
}

func (w *orderWorker) InterruptCommand(_ context.Context, id, _ string) error {
	w.events <- "interrupt " + id
	w.mu.Lock()
	cmd := w.held[id]
	delete(w.held, id)
	w.mu.Unlock()
	if cmd != nil {
		go func() { _ = cmd.Finish(context.Background(), []wire.Update{{Key: "rc", Int: -1}}, nil) }()
	}
	return nil
}

func (w *orderWorker) Print(context.Context, string) error { return nil }
func (w *orderWorker) Keepalive(context.Context) error     { return nil }
func (w *orderWorker) WorkerInfo(context.Context) (map[string]any, error) {
	return map[string]any{"basedir": "/nonexistent/w1", "system": "posix", "numcpus": int64(1)}, nil
}
func (w *orderWorker) SetWorkerSettings(context.Context, msgpack.Settings) error { return nil }
func (w *orderWorker) Shutdown(context.Context) error                            { return nil }

// TestOutboxWhenTheConnectionEnds: the connection ends while the writer
// is held on a start, with more starts and an interrupt queued behind it:
// every queued command completes once, as lost (its build is retried; the
// interrupted one too), the writer goroutine ends with the queue empty,
// and the actor stops.
func TestOutboxWhenTheConnectionEnds(t *testing.T) {
	o := newOrderRig(t, "1")
	o.start("1", "hold")
	testkit.Recv(t, "the start of command 1 held", o.gate.held)
	o.start("2", "run")
	o.start("3", "run")
	o.interrupt("1")
	o.interrupt("1") // sent once
	testkit.Eventually(t, "starts 2, 3 and the interrupt of 1 queued", func() bool { return o.queued() == 3 })
	o.gate.Close("the test drops the worker")
	<-o.gate.Done()
	close(o.gate.release)
	for _, id := range []string{"1", "2", "3"} {
		if c := o.complete(t, id); !c.GetLostConnection() {
			t.Fatalf("command %s completed %v, want lost", id, c)
		}
	}
	testkit.Eventually(t, "the writer ended", func() bool {
		o.l.out.mu.Lock()
		defer o.l.out.mu.Unlock()
		return !o.l.out.writing && len(o.l.out.queue) == 0
	})
	o.noMoreCompletes(t)
	if n := o.l.open.count(); n != 0 {
		t.Fatalf("%d commands still open", n)
	}
}

// TestInterruptWhileTheBuilderListIsSetThenItFails: a command interrupted
// while it waits for the builder list completes once, interrupted, and
// the list's failure afterwards (the connection ends) completes it no
// more.
func TestInterruptWhileTheBuilderListIsSetThenItFails(t *testing.T) {
	o := newOrderRig(t, "")
	o.holdBuilderLists()
	o.startOn("1", "b2", "hold")
	testkit.Recv(t, "the builder list's mkdir", o.worker.mkdirs)
	o.interrupt("1")
	o.interrupt("1")
	if c := o.complete(t, "1"); !c.GetInterrupted() || c.GetLostConnection() {
		t.Fatalf("command 1 completed %v, want interrupted", c)
	}
	o.gate.Close("the test drops the worker")
	<-o.gate.Done()
	testkit.Recv(t, "the builder list's mkdir to end", o.worker.mkdirs)
	o.noMoreCompletes(t)
	if n := o.l.open.count(); n != 0 {
		t.Fatalf("%d commands still open", n)
	}
}

// noMoreCompletes waits for the connection's actor to stop and checks
// that the build got no complete beyond those the test took.
func (o *orderRig) noMoreCompletes(t *testing.T) {
	t.Helper()
	stopped := make(chan struct{})
	o.root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			ctx.Watch(o.conn)
		case *actor.Terminated:
			close(stopped)
		}
	}))
	testkit.Recv(t, "the connection's actor to stop", stopped)
	flushed := make(chan struct{})
	o.root.Send(o.build, flushed)
	testkit.Recv(t, "the build's mailbox flushed", flushed)
	select {
	case u := <-o.done:
		t.Fatalf("another complete: %v", u)
	default:
	}
}

// crash makes the connection's actor panic: it is restarted.
type crash struct{}

// crashTaking makes the connection's actor panic with command id taken
// (open) and not sent, as a bug between the two would (the sender is the
// build).
type crashTaking struct{ id string }

// block makes the connection's actor wait until release is closed.
type block struct{ release chan struct{} }

// crashing is a connection's actor that panics on crash and crashTaking,
// and waits on block.
type crashing struct{ actor.Actor }

func (c crashing) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case crash:
		panic("the test crashes the connection's actor")
	case block:
		<-m.release
		return
	case crashTaking:
		a := c.Actor.(*connActor)
		a.l.open.add(&sink{id: m.id, builder: "b1", build: ctx.Sender(), root: a.root, conn: a.self, worker: a.name, open: a.l.open})
		panic("the test crashes the connection's actor with command " + m.id + " taken")
	}
	c.Actor.Receive(ctx)
}

func crashingRig(t *testing.T, hold string) *orderRig {
	return newOrderRig(t, hold, func(p actor.Producer) actor.Producer {
		return func() actor.Actor { return crashing{p()} }
	})
}

// letGoOnce checks what the worker's actor and the build got from a
// connection whose actor failed: the attach and ready of its login, one
// ConnectionLost (no second attach, nor ready, of the dropped connection),
// and only then the completes of commands ids, each once.
func (o *orderRig) letGoOnce(t *testing.T, ids ...string) {
	t.Helper()
	got := o.events.get()
	want := []string{"attach", "ready", "lost"}
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("the worker's actor and the build got %q, want %q first", got, want)
	}
	completes := got[len(want):]
	slices.Sort(completes)
	var wantCompletes []string
	for _, id := range ids {
		wantCompletes = append(wantCompletes, "complete "+id)
	}
	slices.Sort(wantCompletes)
	if !slices.Equal(completes, wantCompletes) {
		t.Fatalf("after ConnectionLost, the build got %q, want %q (each once)", completes, wantCompletes)
	}
}

// TestRestartLetsAnIdleConnectionGo: the connection's actor fails with no
// command running. The connection is dropped; the restarted actor does not
// attach it again (the old one did: the worker's actor took the dead
// connection back), tells the worker's actor once that it is lost, and
// stops.
func TestRestartLetsAnIdleConnectionGo(t *testing.T) {
	o := crashingRig(t, "")
	o.root.Send(o.conn, crash{})
	<-o.gate.Done()
	o.noMoreCompletes(t)
	o.letGoOnce(t)
}

// TestRestartCompletesACommandTheFailedActorTook: the connection's actor
// fails with a command it took and had not sent. The restarted actor
// completes it, as lost, after telling the worker's actor, and stops (the
// command was never completed: its build waited for ever, and the actor
// never stopped, so that the worker's next login waited for it).
func TestRestartCompletesACommandTheFailedActorTook(t *testing.T) {
	o := crashingRig(t, "")
	o.root.RequestWithCustomSender(o.conn, crashTaking{id: "1"}, o.build)
	if c := o.complete(t, "1"); !c.GetLostConnection() {
		t.Fatalf("command 1 completed %v, want lost", c)
	}
	o.noMoreCompletes(t)
	o.letGoOnce(t, "1")
}

// TestRestartCompletesEveryCommandOnce: the connection's actor fails with
// a start being written, starts queued in the outbox behind it and one
// waiting for the builder list. The restart drops the connection; the
// worker's actor is told once, and then each command completes once, as
// lost (its build is retried), and the restarted actor stops once none is
// left.
func TestRestartCompletesEveryCommandOnce(t *testing.T) {
	o := crashingRig(t, "1")
	o.holdBuilderLists()
	o.start("1", "hold")
	testkit.Recv(t, "the start of command 1 held", o.gate.held)
	o.start("2", "run")
	o.start("3", "run")
	o.startOn("4", "b2", "run")
	testkit.Recv(t, "the builder list's mkdir", o.worker.mkdirs)
	testkit.Eventually(t, "starts 2 and 3 queued", func() bool { return o.queued() == 2 })
	o.root.Send(o.conn, crash{})
	<-o.gate.Done()
	close(o.gate.release)
	testkit.Recv(t, "the builder list's mkdir to end", o.worker.mkdirs)
	for _, id := range []string{"1", "2", "3", "4"} {
		if c := o.complete(t, id); !c.GetLostConnection() {
			t.Fatalf("command %s completed %v, want lost", id, c)
		}
	}
	o.noMoreCompletes(t)
	if n := o.l.open.count(); n != 0 {
		t.Fatalf("%d commands still open", n)
	}
	o.letGoOnce(t, "1", "2", "3", "4")
}

// TestInterruptAfterComplete: an interrupt for a command that has
// completed is not sent, and completes nothing.
func TestInterruptAfterComplete(t *testing.T) {
	o := newOrderRig(t, "")
	o.start("1", "run")
	if c := o.complete(t, "1"); c.GetError() != "" || c.GetInterrupted() {
		t.Fatalf("command 1 completed %v", c)
	}
	o.interrupt("1")
	o.start("2", "run")
	o.complete(t, "2")
	if got := o.worker.next(t, 2); !slices.Equal(got, []string{"start 1", "start 2"}) {
		t.Fatalf("the worker got %q, want the two starts only", got)
	}
	if o.gate.saw("interrupt 1") {
		t.Fatal("the interrupt of a completed command was written")
	}
}

// TestStoppedAfterTooManyFailuresCompletesEveryCommand: the connection's
// actor keeps failing until its supervisor stops it (past the restart
// limit; pbmanager's parent stops it likewise when the failures escalate),
// with a command running on the worker and one it took and had not sent.
// Each completes once, as lost: the stopped actor can no longer hold their
// completes (they waited for it for ever, and their builds hung).
func TestStoppedAfterTooManyFailuresCompletesEveryCommand(t *testing.T) {
	o := crashingRig(t, "")
	o.start("1", "hold")
	if got := o.worker.next(t, 1); !slices.Equal(got, []string{"start 1"}) {
		t.Fatalf("the worker got %q, want start 1", got)
	}
	o.root.RequestWithCustomSender(o.conn, crashTaking{id: "2"}, o.build)
	for range 10 { // protoactor's default: 10 restarts within 10 s
		o.root.Send(o.conn, crash{})
	}
	for _, id := range []string{"1", "2"} {
		if c := o.complete(t, id); !c.GetLostConnection() {
			t.Fatalf("command %s completed %v, want lost", id, c)
		}
	}
	o.noMoreCompletes(t)
}

// TestStartForwardedBeforeConnectionLostCompletes: the worker's actor
// forwards a build's command to the connection and then answers
// ConnectionLost, while the connection's actor is busy. The command
// completes, as lost. (The answer, a continuation, overtakes the actor's
// mailbox: it stopped the actor, none of its commands open, with the
// command left in the mailbox, and the build waited for ever.)
func TestStartForwardedBeforeConnectionLostCompletes(t *testing.T) {
	o := crashingRig(t, "")
	o.onLost = func(ctx actor.Context) {
		release := make(chan struct{})
		ctx.Send(o.conn, block{release})
		ctx.RequestWithCustomSender(o.conn, &messages.StartCommand{CommandId: "1", Builder: "b1", Builddir: "b1",
			Command: &messages.StartCommand_Shell{Shell: &messages.ShellCommand{Script: "run", Workdir: "build"}}}, o.build)
		ctx.Respond(&messages.ConnectionLostResponse{})
		close(release)
	}
	o.gate.Close("the test drops the worker")
	if c := o.complete(t, "1"); !c.GetLostConnection() {
		t.Fatalf("command 1 completed %v, want lost", c)
	}
	o.noMoreCompletes(t)
}
