package botmaster

import (
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The worker actor's own messages.
type (
	// missingCheck: the missing timer of arm seq fired.
	missingCheck struct{ seq int }
	// workerBuild is sent by a build on this worker when it starts (+1)
	// and when it ends (-1).
	workerBuild struct{ delta int }
)

// workerActor is the master's side of one configured worker
// (`worker:NAME`, Buildbot's Worker). It holds at most one connection: the
// actor of a live connection under pbmanager (`master/pbmanager/conn:NAME`),
// which speaks the worker's protocol. It sends that connection the commands
// of the builds on the worker, and lets it go when it ends, when an operator
// kills the worker, or when the worker leaves the config.
//
// It accepts, from the worker's connection (each naming the connection's
// actor): messages.AttachWorker (answered at once: pbmanager has already
// refused a duplicate login),
// messages.WorkerReady (the worker takes builds from now on) and
// messages.ConnectionLost (answered once the worker is detached and brd
// told, so that the connection completes its commands as lost only after).
// From builds: messages.StartCommand and messages.InterruptCommand, passed
// on to the connection (a StartCommand keeps its sender, the build, which
// gets the CommandUpdates; without a connection it gets a complete saying
// lost_connection at once). From brd: messages.WorkerQuarantine. From
// botmaster (which checked the token): messages.WorkerControlRequest (pause;
// unpause, which also ends a quarantine; stop once its builds end; kill).
// From its parent: its messages.WorkerConfig (in place) and messages.Retire
// (removed from the config: it lets the connection go, and stops, once no
// build runs on it). Its state (paused, graceful, the quarantine) is
// recorded in the workers table.
type workerActor struct {
	rt   *service.Runtime
	cell *service.Cell[*messages.WorkerConfig]
	now  func() time.Time

	conn       *connection
	lost       time.Time // when the last connection went
	builds     int       // builds running on the worker
	retiring   bool      // removed by a reconfig: detach and stop once no build runs
	paused     bool      // takes no new builds (pause, or stop)
	stopping   bool      // shut down once no build runs (graceful stop)
	quarantine struct {
		until   time.Time
		timeout time.Duration
	}
	// shuttingDown: the actor is stopping with the master; the next
	// start's housekeeping forgets the connection.
	shuttingDown bool
	timers       *scheduler.TimerScheduler
	// missing is the missing timer, while the worker is away (Buildbot's
	// missing_timer): armed when it goes (or the actor starts without it),
	// disarmed when it attaches; seq tells a stale firing.
	missing struct {
		seq     int
		timeout time.Duration
		at      time.Time
		cancel  scheduler.CancelFunc
	}
	// The worker's row in the state, once found, and its writes in
	// flight or waiting: they go in order.
	workerid uint64
	writes   []pendingWrite
}

type connection struct {
	pid      *actor.PID // the connection's actor
	remote   string
	protocol string
	ready    bool
	info     *messages.WorkerInfo
	since    time.Time
}

func newWorkerActor(rt *service.Runtime, cell *service.Cell[*messages.WorkerConfig]) actor.Actor {
	return &workerActor{rt: rt, cell: cell, now: time.Now}
}

// Receive implements actor.Actor.
func (w *workerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		w.timers = scheduler.NewTimerScheduler(ctx)
		w.restore(ctx)
		w.armMissing(ctx) // Buildbot's start_missing_on_startup
		w.publish(ctx)
	case *actor.Stopping:
		w.shuttingDown = true
		if w.conn != nil {
			w.letGo(ctx, "removed from the config, or the master is stopping", false)
		}
	case *messages.WorkerConfig:
		if w.missing.cancel != nil && m.GetMissingTimeout().AsDuration() != w.missing.timeout {
			w.armMissing(ctx) // a new timeout starts again, as Buildbot's
		}
		w.publish(ctx)
		w.tellBRD(ctx, false)
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
	case *messages.WorkerReady:
		w.ready(ctx, m)
	case *messages.ConnectionLost:
		if w.conn != nil && w.conn.pid.Id == m.GetConnection() {
			w.detach(ctx, m.GetReason())
		}
		service.Respond(ctx, &messages.ConnectionLostResponse{})
	case *actor.Terminated:
		if w.conn != nil && w.conn.pid.Equal(m.Who) {
			w.detach(ctx, "the connection's actor stopped")
		}
	case *messages.StartCommand:
		w.start(ctx, m)
	case *messages.InterruptCommand:
		if w.conn != nil {
			ctx.Send(w.conn.pid, m)
		}
	case *messages.WorkerQuarantine:
		w.quarantine.until, w.quarantine.timeout = time.Time{}, 0
		if m.GetUntil() != nil {
			w.quarantine.until, w.quarantine.timeout = m.GetUntil().AsTime(), m.GetTimeout().AsDuration()
		}
		w.publish(ctx)
		w.recordState(ctx)
	case missingCheck:
		if m.seq == w.missing.seq && w.missing.cancel != nil {
			w.missingNow(ctx)
		}
	}
}

func (w *workerActor) name() string { return w.cell.Load().GetName() }

// restore takes the worker's paused from the state, as Buildbot does; a
// graceful stop or a quarantine does not outlive the master that decided
// it, and is cleared.
func (w *workerActor) restore(ctx actor.Context) {
	row, _ := state.First(w.rt.DB.Read(), state.TableWorkers, state.IndexName, w.name()).(*messages.Worker)
	if row == nil {
		return
	}
	w.paused = row.GetPaused()
	if row.GetGraceful() || row.GetQuarantineUntil() != 0 {
		w.recordState(ctx)
	}
}

// maybeRetire lets the connection go and stops a retiring worker once no
// build runs on it.
func (w *workerActor) maybeRetire(ctx actor.Context) {
	if !w.retiring || w.builds > 0 {
		return
	}
	if w.conn != nil {
		w.letGo(ctx, "removed from the config", false)
	}
	ctx.Stop(ctx.Self())
}

// letGo detaches the connection and has it close, telling the worker why.
func (w *workerActor) letGo(ctx actor.Context, why string, shutdown bool) {
	ctx.Send(w.conn.pid, &messages.CloseConnection{Reason: why, Message: "the master has let this worker go: " + why, Shutdown: shutdown})
	w.detach(ctx, why)
}

// attach takes a logged-in connection. pbmanager lets one through per
// worker at a time, so another live connection means a connection's actor
// that has not said it is gone: the newer one wins.
func (w *workerActor) attach(ctx actor.Context, m *messages.AttachWorker) {
	switch {
	case w.retiring:
		service.Respond(ctx, &messages.AttachWorkerResponse{Error: "worker " + w.name() + " is being removed from the config"})
		return
	case w.conn != nil && w.conn.pid.Id != m.GetConnection():
		w.detach(ctx, "replaced by a new connection")
	}
	if w.conn == nil {
		pid := actor.NewPID(ctx.Self().Address, m.GetConnection())
		w.conn = &connection{pid: pid, remote: m.GetRemote(), protocol: m.GetProtocol()}
		ctx.Watch(pid)
		w.disarmMissing()
	}
	service.Respond(ctx, &messages.AttachWorkerResponse{Ok: true})
}

// ready: the connection has the worker's info and builder list.
func (w *workerActor) ready(ctx actor.Context, m *messages.WorkerReady) {
	if w.conn == nil || w.conn.pid.Id != m.GetConnection() {
		return
	}
	w.conn.ready, w.conn.info, w.conn.since = true, m.GetInfo(), w.now()
	w.record(ctx, true)
	w.rt.Stats.WorkerConnections.WithLabelValues("attached").Inc()
	w.rt.WorkerLines.LogAt(slog.LevelInfo, w.name(), "worker attached", slog.String("worker", w.name()), slog.String("peer", w.conn.remote),
		slog.String("protocol", w.conn.protocol), slog.String("basedir", m.GetInfo().GetBasedir()),
		slog.String("version", m.GetInfo().GetVersion()))
	w.publish(ctx)
	w.tellBRD(ctx, false)
	w.maybeStop(ctx)
}

// tellBRD tells the distributor whether this worker can take builds.
func (w *workerActor) tellBRD(ctx actor.Context, endQuarantine bool) {
	ctx.Send(actor.NewPID(ctx.Self().Address, paths.BRD), &messages.WorkerAvailable{Worker: w.name(),
		Connected: w.conn != nil && w.conn.ready, MaxBuilds: w.cell.Load().GetMaxBuilds(), Paused: w.paused,
		EndQuarantine: endQuarantine})
}

// control pauses, unpauses, stops or kills the worker (Buildbot's worker
// control actions), and answers with its state.
func (w *workerActor) control(ctx actor.Context, m *messages.WorkerControlRequest) {
	w.rt.Log.Info("worker control", slog.String("worker", w.name()), slog.String("action", m.GetAction().String()))
	endQuarantine := false
	switch m.GetAction() {
	case messages.WorkerAction_WORKER_ACTION_PAUSE:
		w.paused = true
	case messages.WorkerAction_WORKER_ACTION_UNPAUSE:
		// Buildbot's unpause also stops the quarantine timer.
		w.paused, w.stopping, endQuarantine = false, false, true
		w.quarantine.until, w.quarantine.timeout = time.Time{}, 0
	case messages.WorkerAction_WORKER_ACTION_STOP:
		w.paused, w.stopping = true, true
		w.maybeStop(ctx)
	case messages.WorkerAction_WORKER_ACTION_KILL:
		if w.conn != nil {
			w.letGo(ctx, "killed by an operator", true)
		}
	}
	w.tellBRD(ctx, endQuarantine)
	w.publish(ctx)
	w.recordState(ctx)
	service.Respond(ctx, &messages.WorkerControlResponse{Connected: w.conn != nil, Paused: w.paused})
}

// maybeStop shuts a stopping worker down once no build runs on it.
func (w *workerActor) maybeStop(ctx actor.Context) {
	if !w.stopping || w.builds > 0 || w.conn == nil || !w.conn.ready {
		return
	}
	ctx.Send(w.conn.pid, &messages.ShutdownWorker{})
	w.stopping = false // a worker that logs in again takes builds once unpaused
}

// start passes a build's command to the connection, keeping the build as
// its sender.
func (w *workerActor) start(ctx actor.Context, m *messages.StartCommand) {
	if ctx.Sender() == nil {
		return
	}
	if w.conn == nil || !w.conn.ready {
		service.Respond(ctx, &messages.CommandUpdate{CommandId: m.GetCommandId(), Kind: &messages.CommandUpdate_Complete{
			Complete: &messages.CommandComplete{Rc: -1, Error: "worker " + w.name() + " is not connected", LostConnection: true}}})
		return
	}
	ctx.Forward(w.conn.pid)
}

// detach lets the connection go: the missing timer starts, the state and
// brd learn the worker is gone.
func (w *workerActor) detach(ctx actor.Context, why string) {
	if w.conn == nil {
		return
	}
	if w.conn.ready { // counted attached
		w.rt.Stats.WorkerConnections.WithLabelValues("detached").Inc()
	}
	w.rt.WorkerLines.LogAt(slog.LevelInfo, w.name(), "worker detached", slog.String("worker", w.name()), slog.String("peer", w.conn.remote),
		slog.String("reason", why))
	ctx.Unwatch(w.conn.pid)
	w.conn = nil
	w.lost = w.now()
	w.armMissing(ctx)
	w.publish(ctx)
	w.record(ctx, false)
	w.tellBRD(ctx, false)
}

// record notes the connection in the state (workers.connected_to, with the
// worker's info), in the background: the worker's row is found or added by
// name first.
func (w *workerActor) record(ctx actor.Context, connected bool) {
	if w.shuttingDown {
		return
	}
	masterid := w.rt.MasterID
	info := ""
	if connected {
		info = infoJSON(w.conn.info)
	}
	w.write(ctx, "record the connection", func(workerid uint64) *messages.Command {
		if connected {
			return &messages.Command{Kind: &messages.Command_WorkerConnected{WorkerConnected: &messages.WorkerConnected{
				Workerid: workerid, Masterid: masterid, InfoJson: info}}}
		}
		return &messages.Command{Kind: &messages.Command_WorkerDisconnected{WorkerDisconnected: &messages.WorkerDisconnected{
			Workerid: workerid, Masterid: masterid}}}
	})
}

// recordState notes paused, graceful and the quarantine in the state.
func (w *workerActor) recordState(ctx actor.Context) {
	if w.shuttingDown {
		return
	}
	st := &messages.SetWorkerState{Paused: w.paused, Graceful: w.stopping}
	if !w.quarantine.until.IsZero() {
		st.QuarantineUntil, st.QuarantineTimeout = w.quarantine.until.Unix(), int64(w.quarantine.timeout/time.Second)
	}
	w.write(ctx, "record its state", func(workerid uint64) *messages.Command {
		st.Workerid = workerid
		return &messages.Command{Kind: &messages.Command_SetWorkerState{SetWorkerState: st}}
	})
}

// write writes the command cmd makes for the worker's row, through the db
// service, after the writes before it (one at a time: the db service does
// not keep the order of commands in flight together). The row is found (or
// added) by name once. A failure is logged.
func (w *workerActor) write(ctx actor.Context, what string, cmd func(workerid uint64) *messages.Command) {
	w.writes = append(w.writes, pendingWrite{what, cmd})
	if len(w.writes) == 1 {
		w.nextWrite(ctx)
	}
}

type pendingWrite struct {
	what string
	cmd  func(workerid uint64) *messages.Command
}

// nextWrite submits the first waiting write; its answer submits the next.
func (w *workerActor) nextWrite(ctx actor.Context) {
	if w.workerid == 0 {
		db.Submit(ctx, &messages.Command{Kind: &messages.Command_FindOrAddWorker{
			FindOrAddWorker: &messages.FindOrAddWorker{Name: w.name()}}}, func(res *messages.CommandResult, err error) {
			if err != nil {
				w.logWrite("find its row", err)
				w.writes = nil
				return
			}
			w.workerid = res.GetId()
			w.nextWrite(ctx)
		})
		return
	}
	p := w.writes[0]
	db.Submit(ctx, p.cmd(w.workerid), func(_ *messages.CommandResult, err error) {
		if err != nil {
			w.logWrite(p.what, err)
		}
		w.writes = w.writes[1:]
		if len(w.writes) > 0 {
			w.nextWrite(ctx)
		}
	})
}

func (w *workerActor) logWrite(what string, err error) {
	if !errors.Is(err, state.ErrClosed) {
		w.rt.Log.Warn("worker: cannot "+what+" in the state", slog.String("worker", w.name()), slog.Any("error", err))
	}
}

// infoJSON is the workerinfo /api/v2/workers shows: Buildbot's admin, host,
// access_uri and version, and more than Buildbot shows: numcpus, system,
// basedir, protocol, and the worker's other info entries (the os_* fields
// of its os-release; never its environment).
func infoJSON(info *messages.WorkerInfo) string {
	out := map[string]any{"admin": nil, "host": nil, "access_uri": nil, "version": info.GetVersion(),
		"numcpus": info.GetNumcpus(), "system": info.GetSystem(), "basedir": info.GetBasedir(), "protocol": info.GetProtocol()}
	for k, v := range info.GetInfo() {
		out[k] = v
	}
	b, err := json.Marshal(out)
	if err != nil {
		return ""
	}
	return string(b)
}

func (w *workerActor) publish(ctx actor.Context) {
	n := service.NodeOf(ctx, w.rt)
	if n == nil {
		return
	}
	st := &messages.WorkerState{Config: w.cell.Load(), Paused: w.paused, Stopping: w.stopping}
	if c := w.conn; c != nil && c.ready {
		st.Connected, st.Address, st.Info, st.ConnectedSince = true, c.remote, c.info, timestamppb.New(c.since)
	}
	if !w.quarantine.until.IsZero() {
		st.QuarantineUntil, st.QuarantineTimeout = timestamppb.New(w.quarantine.until), durationpb.New(w.quarantine.timeout)
	}
	if w.missing.cancel != nil {
		st.MissingAt = timestamppb.New(w.missing.at)
	}
	n.SetState(st)
}
