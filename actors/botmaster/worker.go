package botmaster

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"maps"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// PingTimeout bounds how long a connected worker has to answer before a
// second login for its name replaces it (Buildbot's PING_TIMEOUT); a worker
// with a shorter keepalive interval has that long.
const PingTimeout = 10 * time.Second

// The worker actor's own timer messages.
type (
	keepaliveCheck struct{}
	pingExpired    struct{ session string }
	missingCheck   struct{ since time.Time }
	endpointLost   struct{ address string }
	// workerBuild is sent by a build on this worker when it starts (+1)
	// and when it ends (-1).
	workerBuild struct{ delta int }
)

// workerActor is the master's side of one configured worker
// (`worker:NAME`, Buildbot's Worker and its connection). It holds at most one
// connection, runs commands on it for builds, and detaches it when the
// worker goes quiet, leaves, or its connection breaks.
//
// It accepts messages.WorkerControlRequest (pause, unpause, stop once its
// builds end, kill; from botmaster, which checked the token), its
// messages.WorkerConfig (in place), messages.Retire (removed
// from the config: it is detached, and stops, once no build runs on it),
// messages.AttachWorker
// from pbmanager, messages.FromWorker (forwarded by pbmanager: keepalives,
// command updates, detach), and messages.StartCommand /
// messages.InterruptCommand from the master's own actors: the sender of a
// StartCommand gets every messages.CommandUpdate for it, ending with one
// complete; when the connection is lost first, that complete says
// lost_connection.
type workerActor struct {
	rt   *service.Runtime
	cell *service.Cell[*messages.WorkerConfig]
	now  func() time.Time

	conn     *connection
	lost     time.Time              // when the last connection went
	pending  *messages.AttachWorker // a second login, while the first is pinged
	commands map[string]*actor.PID  // running command id → who asked
	builds   int                    // builds running on the worker
	retiring bool                   // removed by a reconfig: detach and stop once no build runs
	paused   bool                   // takes no new builds (pause, or stop)
	// shuttingDown: the actor is stopping with the master; the next
	// start's housekeeping forgets the connection.
	shuttingDown bool
	stopping     bool // shut down once no build runs (graceful stop)
	sub          *eventstream.Subscription
	ticker       scheduler.CancelFunc
	timers       *scheduler.TimerScheduler
}

type connection struct {
	session string
	worker  *actor.PID // the `worker` actor of the worker process
	info    *messages.WorkerInfo
	since   time.Time
	heard   time.Time
}

func newWorkerActor(rt *service.Runtime, cell *service.Cell[*messages.WorkerConfig]) actor.Actor {
	return &workerActor{rt: rt, cell: cell, now: time.Now, commands: map[string]*actor.PID{}}
}

// Receive implements actor.Actor.
func (w *workerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		w.timers = scheduler.NewTimerScheduler(ctx)
		self, root := ctx.Self(), ctx.ActorSystem().Root
		w.sub = ctx.ActorSystem().EventStream.Subscribe(func(ev any) {
			if e, ok := ev.(*remote.EndpointTerminatedEvent); ok {
				root.Send(self, endpointLost{address: e.Address})
			}
		})
		k := w.keepalive()
		w.ticker = w.timers.SendRepeatedly(k, k, self, keepaliveCheck{})
		w.publish(ctx)
	case *actor.Stopping:
		w.shuttingDown = true
		ctx.ActorSystem().EventStream.Unsubscribe(w.sub)
		w.ticker()
		if w.conn != nil {
			w.send(ctx, &messages.ToWorker{Kind: &messages.ToWorker_Print{Print: "the master no longer has this worker"}})
			w.detach(ctx, "removed from the config, or the master is stopping", false)
		}
	case *messages.WorkerConfig:
		w.publish(ctx)
		w.tellBRD(ctx)
	case *messages.Retire:
		w.retiring = true
		w.maybeRetire(ctx)
	case workerBuild:
		w.builds += m.delta
		w.maybeRetire(ctx)
		w.maybeStop(ctx)
	case *messages.WorkerControlRequest:
		w.control(ctx, m)
	case *messages.AttachWorker:
		w.attach(ctx, m)
	case *messages.FromWorker:
		w.fromWorker(ctx, m)
	case *messages.StartCommand:
		w.start(ctx, m)
	case *messages.InterruptCommand:
		if w.conn != nil && w.commands[m.GetCommandId()] != nil {
			w.send(ctx, &messages.ToWorker{Kind: &messages.ToWorker_Interrupt{Interrupt: m}})
		}
	case keepaliveCheck:
		if w.conn != nil && w.now().Sub(w.conn.heard) > 3*w.keepalive() {
			w.detach(ctx, "no keepalive for "+(3*w.keepalive()).String(), true)
		}
	case pingExpired:
		if w.pending != nil && w.pending.GetSession() == m.session {
			p := w.pending
			w.pending = nil
			w.detach(ctx, "a new connection logged in and this one did not answer a ping", true)
			w.accept(ctx, p)
		}
	case endpointLost:
		if w.conn != nil && w.conn.worker.GetAddress() == m.address {
			w.detach(ctx, "connection lost", false)
		}
	case missingCheck:
		if w.conn == nil && m.since.Equal(w.lost) {
			w.rt.Log.Warn("worker is missing", slog.String("worker", w.name()),
				slog.Duration("missing_timeout", w.cell.Load().GetMissingTimeout().AsDuration()))
		}
	}
}

func (w *workerActor) name() string { return w.cell.Load().GetName() }

// maybeRetire detaches and stops a retiring worker once no build runs on it.
func (w *workerActor) maybeRetire(ctx actor.Context) {
	if !w.retiring || w.builds > 0 {
		return
	}
	if w.conn != nil {
		w.send(ctx, &messages.ToWorker{Kind: &messages.ToWorker_Print{Print: "the master no longer has this worker"}})
		w.detach(ctx, "removed from the config", true)
	}
	ctx.Stop(ctx.Self())
}

// keepalive is how often the worker must show it is alive. A changed
// interval applies to the next connection and the next checks.
func (w *workerActor) keepalive() time.Duration {
	if k := w.cell.Load().GetKeepaliveInterval().AsDuration(); k > 0 {
		return k
	}
	return config.DefaultKeepalive
}

// attach takes a new login: at once when the worker is not connected;
// otherwise the connected one is pinged, and the new one is refused if it
// answers in time (Buildbot's duplicate-connection check).
func (w *workerActor) attach(ctx actor.Context, m *messages.AttachWorker) {
	if w.conn == nil {
		w.accept(ctx, m)
		return
	}
	if w.pending != nil {
		w.refuse(ctx, m, "another login for this worker is being decided")
		return
	}
	w.pending = m
	w.send(ctx, &messages.ToWorker{Kind: &messages.ToWorker_Keepalive{Keepalive: &messages.Keepalive{}}})
	w.timers.SendOnce(min(PingTimeout, w.keepalive()), ctx.Self(), pingExpired{session: m.GetSession()})
}

func (w *workerActor) accept(ctx actor.Context, m *messages.AttachWorker) {
	now := w.now()
	w.conn = &connection{session: m.GetSession(), worker: actor.NewPID(m.GetAddress(), paths.WorkerAgent), info: m.GetInfo(),
		since: now, heard: now}
	w.record(ctx, true)
	w.rt.Log.Info("worker attached", slog.String("worker", w.name()), slog.String("from", m.GetAddress()),
		slog.String("basedir", m.GetInfo().GetBasedir()))
	ctx.Send(actor.NewPID(m.GetReplyAddress(), m.GetReplyId()), &messages.WorkerLoginResponse{
		Ok: true, Session: m.GetSession(), KeepaliveInterval: durationpb.New(w.keepalive())})
	w.publish(ctx)
	w.tellBRD(ctx)
}

// tellBRD tells the distributor whether this worker can take builds.
func (w *workerActor) tellBRD(ctx actor.Context) {
	ctx.Send(actor.NewPID(ctx.Self().Address, paths.BRD), &messages.WorkerAvailable{Worker: w.name(), Connected: w.conn != nil,
		MaxBuilds: w.cell.Load().GetMaxBuilds(), Paused: w.paused})
}

// control pauses, unpauses, stops or kills the worker (Buildbot's worker
// control actions), and answers with its state.
func (w *workerActor) control(ctx actor.Context, m *messages.WorkerControlRequest) {
	w.rt.Log.Info("worker control", slog.String("worker", w.name()), slog.String("action", m.GetAction().String()))
	switch m.GetAction() {
	case messages.WorkerAction_WORKER_ACTION_PAUSE:
		w.paused = true
	case messages.WorkerAction_WORKER_ACTION_UNPAUSE:
		w.paused, w.stopping = false, false
	case messages.WorkerAction_WORKER_ACTION_STOP:
		w.paused, w.stopping = true, true
		w.maybeStop(ctx)
	case messages.WorkerAction_WORKER_ACTION_KILL:
		if w.conn != nil {
			w.send(ctx, &messages.ToWorker{Kind: &messages.ToWorker_Shutdown{Shutdown: &messages.WorkerShutdown{}}})
			w.detach(ctx, "killed by an operator", false)
		}
	}
	w.tellBRD(ctx)
	w.publish(ctx)
	w.recordState(ctx)
	service.Respond(ctx, &messages.WorkerControlResponse{Connected: w.conn != nil, Paused: w.paused})
}

// recordState notes the operator's flags in the state (workers.paused and
// graceful); the db service writes them in the order they were set.
func (w *workerActor) recordState(ctx actor.Context) {
	name := w.name()
	db.Submit(ctx, &messages.Command{Kind: &messages.Command_SetWorkerState{SetWorkerState: &messages.SetWorkerState{
		Name: name, Paused: w.paused, Graceful: w.stopping}}}, func(_ *messages.CommandResult, err error) {
		if err != nil && !errors.Is(err, state.ErrClosed) {
			w.rt.Log.Warn("worker: cannot record its state", slog.String("worker", name), slog.Any("error", err))
		}
	})
}

// maybeStop shuts a stopping worker down once no build runs on it.
func (w *workerActor) maybeStop(ctx actor.Context) {
	if !w.stopping || w.builds > 0 || w.conn == nil {
		return
	}
	w.send(ctx, &messages.ToWorker{Kind: &messages.ToWorker_Shutdown{Shutdown: &messages.WorkerShutdown{Graceful: true}}})
	w.stopping = false // a worker that logs in again takes builds once unpaused
}

// record notes the connection in the state (workers.connected_to), in the
// background: the worker's row is found or added by name first.
func (w *workerActor) record(ctx actor.Context, connected bool) {
	if w.shuttingDown {
		return
	}
	info := ""
	if w.conn != nil {
		if b, err := protojson.Marshal(w.conn.info); err == nil {
			info = string(b)
		}
	}
	name, masterid, log := w.name(), w.rt.MasterID, w.rt.Log
	system := ctx.ActorSystem()
	go func() {
		res, err := db.Call(context.Background(), system, &messages.Command{Kind: &messages.Command_FindOrAddWorker{FindOrAddWorker: &messages.FindOrAddWorker{Name: name}}})
		if err == nil {
			cmd := &messages.Command{Kind: &messages.Command_WorkerDisconnected{WorkerDisconnected: &messages.WorkerDisconnected{
				Workerid: res.GetId(), Masterid: masterid}}}
			if connected {
				cmd = &messages.Command{Kind: &messages.Command_WorkerConnected{WorkerConnected: &messages.WorkerConnected{
					Workerid: res.GetId(), Masterid: masterid, InfoJson: info}}}
			}
			_, err = db.Call(context.Background(), system, cmd)
		}
		if err != nil && !errors.Is(err, state.ErrClosed) {
			log.Warn("worker: cannot record the connection in the state", slog.String("worker", name), slog.Any("error", err))
		}
	}()
}

func (w *workerActor) refuse(ctx actor.Context, m *messages.AttachWorker, why string) {
	w.rt.Log.Warn("worker login refused", slog.String("worker", w.name()), slog.String("from", m.GetAddress()),
		slog.String("reason", why))
	ctx.Send(actor.NewPID(m.GetReplyAddress(), m.GetReplyId()), &messages.WorkerLoginResponse{Error: "login refused: " + why})
	ctx.Send(pbmanagerPID(ctx), &messages.SessionClosed{Session: m.GetSession()})
}

func (w *workerActor) fromWorker(ctx actor.Context, m *messages.FromWorker) {
	if w.conn == nil || subtle.ConstantTimeCompare([]byte(m.GetSession()), []byte(w.conn.session)) != 1 {
		return // a session this actor has let go; pbmanager is being told
	}
	w.conn.heard = w.now()
	switch k := m.GetKind().(type) {
	case *messages.FromWorker_Keepalive:
		if p := w.pending; p != nil {
			w.pending = nil
			w.refuse(ctx, p, "worker "+w.name()+" is already connected from "+w.conn.worker.GetAddress())
		}
	case *messages.FromWorker_Update:
		id := k.Update.GetCommandId()
		to := w.commands[id]
		if to == nil {
			return
		}
		if k.Update.GetComplete() != nil {
			delete(w.commands, id)
			defer w.publish(ctx)
		}
		ctx.Send(to, k.Update)
	case *messages.FromWorker_Detach:
		w.detach(ctx, "the worker detached: "+k.Detach, false)
	}
}

// start runs a command on the worker for its sender.
func (w *workerActor) start(ctx actor.Context, m *messages.StartCommand) {
	id := m.GetCommandId()
	fail := func(why string, lost bool) {
		service.Respond(ctx, &messages.CommandUpdate{CommandId: id, Kind: &messages.CommandUpdate_Complete{
			Complete: &messages.CommandComplete{Rc: -1, Error: why, LostConnection: lost}}})
	}
	switch {
	case ctx.Sender() == nil:
		return
	case w.conn == nil:
		fail("worker "+w.name()+" is not connected", true)
		return
	case id == "" || w.commands[id] != nil:
		fail("command id "+id+" is empty or already running", false)
		return
	}
	w.commands[id] = ctx.Sender()
	w.send(ctx, &messages.ToWorker{Kind: &messages.ToWorker_Start{Start: m}})
	w.publish(ctx)
}

// detach lets the connection go: its running commands complete as lost,
// pbmanager forgets the session, and the missing timer starts.
// A worker that may not know (tell) is sent ToWorker.detached, so that it
// logs in again at once.
func (w *workerActor) detach(ctx actor.Context, why string, tell bool) {
	if w.conn == nil {
		return
	}
	w.rt.Log.Info("worker detached", slog.String("worker", w.name()), slog.String("from", w.conn.worker.GetAddress()),
		slog.String("reason", why))
	ctx.Send(pbmanagerPID(ctx), &messages.SessionClosed{Session: w.conn.session})
	if tell {
		w.send(ctx, &messages.ToWorker{Kind: &messages.ToWorker_Detached{Detached: why}})
	}
	running := maps.Clone(w.commands)
	clear(w.commands)
	w.conn = nil
	w.lost = w.now()
	if mt := w.cell.Load().GetMissingTimeout().AsDuration(); mt > 0 {
		w.timers.SendOnce(mt, ctx.Self(), missingCheck{since: w.lost})
	}
	w.publish(ctx)
	w.record(ctx, false)
	w.tellBRD(ctx)
	// Last, once the state says detached: the builds learn their commands are lost.
	for id, to := range running {
		ctx.Send(to, &messages.CommandUpdate{CommandId: id, Kind: &messages.CommandUpdate_Complete{
			Complete: &messages.CommandComplete{Rc: -1, Error: "lost the connection to worker " + w.name() + ": " + why, LostConnection: true}}})
	}
}

func (w *workerActor) send(ctx actor.Context, m *messages.ToWorker) {
	m.Session = w.conn.session
	ctx.Send(w.conn.worker, m)
}

func (w *workerActor) publish(ctx actor.Context) {
	n := service.NodeOf(ctx, w.rt)
	if n == nil {
		return
	}
	st := &messages.WorkerState{Config: w.cell.Load(), RunningCommands: int32(len(w.commands)), Paused: w.paused, Stopping: w.stopping}
	if c := w.conn; c != nil {
		st.Connected, st.Address, st.Info, st.ConnectedSince = true, c.worker.GetAddress(), c.info, timestamppb.New(c.since)
	}
	n.SetState(st)
}

func pbmanagerPID(ctx actor.Context) *actor.PID {
	return actor.NewPID(ctx.ActorSystem().Address(), paths.PBManager)
}
