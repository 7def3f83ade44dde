package master

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/metrics"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/actors/status"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/control"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Options configure a master process.
type Options struct {
	Config     *messages.MasterConfig // validated, defaults applied
	ConfigPath string                 // re-read by a bare reconfig; "" for the built-in config
	Input      config.Fingerprint     // of the text Config was loaded from; zero when unknown
	// DataDir holds the state (DataDir/state); required unless Ephemeral.
	DataDir string
	// Ephemeral keeps the state in memory only: nothing survives the process.
	Ephemeral bool
	// State tunes the durable state (its Logger is Log); the zero value is
	// the default.
	State state.Options
	Token string
	Log   *slog.Logger
	// LibLog receives protoactor's own log lines; nil means Log at warn level.
	LibLog *slog.Logger
	// Idle is called when a reconfiguration is over and none is queued.
	Idle func()
	// NoRemote skips the control endpoint, listen.remote (in-process tests
	// and benchmarks).
	NoRemote bool
	// AckTimeout is how long a reconfiguration waits for the services'
	// acknowledgements before it answers with a warning; 0 means AckTimeout.
	AckTimeout time.Duration
	// Listeners, when set, are served in place of binding listen.www,
	// listen.debug, listen.workers and listen.workers_pb.
	Listeners Listeners
	// Heartbeat is how often the running master marks itself active in the
	// state (its masters row's last_active); 0 means DefaultHeartbeat.
	Heartbeat time.Duration
	// SessionSweep is how often the janitor ends the expired web sessions;
	// 0 means db.DefaultSessionSweep.
	SessionSweep time.Duration
	// Now is the master's clock for its masters row (start, heartbeat,
	// stop); nil means time.Now. Tests fake it.
	Now func() time.Time
	// RefusalsNow is the clock of the log budgets (Runtime.Refusals,
	// Runtime.WorkerLines); nil means time.Now. Tests stand it still to count
	// the lines logged exactly.
	RefusalsNow func() time.Time
}

// Master is a running master: its actor system, control endpoint and tree.
type Master struct {
	RT  *service.Runtime
	PID *actor.PID
	// RemoteAddr, WWWAddr, DebugAddr, WorkersAddr and WorkersPBAddr are the
	// addresses the listeners are bound to, with the port the system picked
	// where the config asked for 0; "" for a listener the master does not
	// have.
	RemoteAddr, WWWAddr, DebugAddr, WorkersAddr, WorkersPBAddr string

	remote    *httpserve.Listener // listen.remote; nil without
	control   *httpserve.Server   // serving remote; nil once stopped
	closeLogs func() error        // closes RT.Logs
	gaveUp    chan any
	exit      chan string
	now       func() time.Time
	heartbeat *heartbeat
	stopOnce  sync.Once
	stopErr   error
}

// Accepted lists what the master accepts from other processes (on its
// control endpoint), by target.
func Accepted() map[string][]proto.Message {
	return map[string][]proto.Message{
		paths.Master:  {&messages.ReconfigureRequest{}, &messages.GetTreeRequest{}, &messages.StopMasterRequest{}},
		paths.Changes: {&messages.SendChangeRequest{}},
		paths.Schedulers: {&messages.ForceBuildRequest{}, &messages.RebuildRequest{}, &messages.CancelBuildRequestRequest{},
			&messages.EnableSchedulerRequest{}},
		paths.Botmaster: {&messages.StopBuildRequest{}, &messages.WorkerControlRequest{}},
		paths.Janitor:   {&messages.CleanupRequest{}},
		paths.Users:     {&messages.UserRequest{}, &messages.ApiTokenRequest{}},
	}
}

// StateDir is where, under the data directory, the state is kept.
const StateDir = "state"

// Start binds the HTTP listeners, opens the log files, the state (replaying
// it, which writes the small logs' records it carries back to the log
// files), makes the log files agree with the state, does Buildbot's
// housekeeping for a master that may have crashed, starts the actor system
// and the control endpoint, and spawns the tree. It returns once every service has
// started.
func Start(opts Options) (*Master, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	nofile := openFileLimit()
	limits := httpLimits(opts.Config.GetHttp(), nofile)
	tlsCfg, err := workersTLS(opts.Config)
	if err != nil {
		return nil, err
	}
	ls, err := bindListeners(opts.Config, opts.Listeners, limits, !opts.NoRemote)
	if err != nil {
		return nil, err
	}
	opts.Log.Info("listeners bound", slog.String("control", addrOf(ls.remote)), slog.String("www", addrOf(ls.www)), slog.String("debug", addrOf(ls.debug)),
		slog.String("workers", addrOf(ls.workers)), slog.String("workers_pb", addrOf(ls.workersPB)),
		slog.Int("max_connections_each", limits.MaxConns), slog.Int("workers_max_unauthenticated", ls.strangers), slog.Uint64("open_file_limit", nofile))
	logs, closeLogs, err := openLogs(opts)
	if err != nil {
		closeListeners(ls.all()...)
		return nil, err
	}
	store, err := openState(opts, logs)
	if err != nil {
		closeListeners(ls.all()...)
		closeLogs()
		return nil, err
	}
	if err := agreeLogs(opts, store, logs); err != nil {
		closeListeners(ls.all()...)
		store.Close()
		closeLogs()
		return nil, err
	}
	masterid, err := markStarted(opts, store)
	if err != nil {
		closeListeners(ls.all()...)
		store.Close()
		closeLogs()
		return nil, err
	}
	m, err := start(opts, store, masterid, logs, closeLogs, ls, tlsCfg)
	if err != nil {
		if m == nil { // the tree never ran: Stop did not clean up
			closeListeners(ls.all()...)
			markStopped(opts.Log, store, masterid, opts.Now(), 10*time.Second)
			store.Close()
			closeLogs()
		}
		return nil, err
	}
	return m, nil
}

// openLogs opens the log files (DataDir/logs; a temporary directory when
// ephemeral), before the state, whose replay writes the small logs'
// records it carries there (state.LogRecords).
func openLogs(opts Options) (*logchunk.Store, func() error, error) {
	dir := ""
	if !opts.Ephemeral {
		dir = filepath.Join(opts.DataDir, db.LogsDir)
	}
	return db.OpenLogStore(dir, opts.Log)
}

// agreeLogs makes the log files agree with the state (db.AgreeLogs).
func agreeLogs(opts Options, store *state.Store, logs *logchunk.Store) error {
	start := time.Now()
	if err := db.AgreeLogs(context.Background(), logs, store, opts.Log); err != nil {
		return err
	}
	if !opts.Ephemeral {
		opts.Log.Info("log files opened", slog.String("dir", filepath.Join(opts.DataDir, db.LogsDir)), slog.Duration("took", time.Since(start)))
	}
	return nil
}

// openState opens the store, handing the small logs' records its commands
// carry to logs.
func openState(opts Options, logs *logchunk.Store) (*state.Store, error) {
	if opts.Ephemeral {
		return state.OpenEphemeral(), nil
	}
	if opts.DataDir == "" {
		return nil, errors.New("no data directory for the state (or run ephemeral)")
	}
	dir := filepath.Join(opts.DataDir, StateDir)
	start := time.Now()
	so := opts.State
	so.Logger = opts.Log
	so.LogRecords = logs
	store, err := state.Open(dir, so)
	if err != nil {
		return nil, err
	}
	opts.Log.Info("state opened", slog.String("dir", dir), slog.Duration("took", time.Since(start)))
	return store, nil
}

// markStarted marks this master started in the state, which does the
// housekeeping of a run that stopped uncleanly, and returns its id.
func markStarted(opts Options, store *state.Store) (uint64, error) {
	name := "ephemeral"
	if !opts.Ephemeral {
		name = filepath.Join(opts.DataDir, StateDir)
	}
	if host, err := os.Hostname(); err == nil {
		name = host + ":" + name
	}
	previousRun(opts.Log, store, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := store.SubmitWait(ctx, &messages.Command{Kind: &messages.Command_MasterStarted{
		MasterStarted: &messages.MasterStarted{Name: name, Time: opts.Now().Unix()}}})
	if err != nil {
		return 0, fmt.Errorf("state: marking the master started: %w", err)
	}
	if res.GetBuildsRetried()+res.GetStepsFinished()+res.GetLogsFinished()+res.GetRequestsUnclaimed() > 0 {
		opts.Log.Warn("state: cleaned up after a master that stopped uncleanly",
			slog.Uint64("masterid", res.GetId()), slog.Uint64("builds_retried", uint64(res.GetBuildsRetried())),
			slog.Uint64("steps_finished", uint64(res.GetStepsFinished())), slog.Uint64("logs_finished", uint64(res.GetLogsFinished())),
			slog.Uint64("requests_unclaimed", uint64(res.GetRequestsUnclaimed())))
	}
	return res.GetId(), nil
}

// start runs the tree on store and logs (closeLogs closes them). On failure
// it returns a nil Master when the tree never ran, or the Master it has
// stopped again (Stop cleaned up).
func start(opts Options, store *state.Store, masterid uint64, logs *logchunk.Store, closeLogs func() error, ls bound, tlsCfg *tls.Config) (*Master, error) {
	cfg, sec, err := resolveSecrets(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	redactor := secrets.NewLogHandler(opts.Log.Handler())
	opts.Log = slog.New(redactor)
	libLog := opts.Log
	if opts.LibLog != nil {
		libLog = slog.New(redactor.Share(opts.LibLog.Handler()))
	}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return libLog }))
	m := &Master{gaveUp: make(chan any, 1), exit: make(chan string, 1), now: opts.Now, WWWAddr: addrOf(ls.www), DebugAddr: addrOf(ls.debug),
		WorkersAddr: addrOf(ls.workers), WorkersPBAddr: addrOf(ls.workersPB), closeLogs: closeLogs}
	m.RT = service.NewRuntime(system, opts.Log, cfg, func(reason any) {
		select {
		case m.gaveUp <- reason:
		default:
		}
	})
	m.RT.LogRedactor = redactor
	if opts.RefusalsNow != nil {
		m.RT.Refusals, m.RT.WorkerLines = service.NewLogBudgets(opts.Log, opts.RefusalsNow, nil)
	}
	limitStrangers(ls, m.RT.Refusals)
	m.RT.SetSecrets(sec)
	m.RT.Token, m.RT.DataDir, m.RT.ConfigPath, m.RT.DB, m.RT.MasterID = opts.Token, opts.DataDir, opts.ConfigPath, store, masterid
	m.RT.Logs = logs
	m.RT.Applied = metrics.NewRecorder(m.RT.Metrics, store).Applied
	m.RT.SetInput(opts.Input)
	m.RT.Idle, m.RT.AckTimeout, m.RT.SessionSweep = opts.Idle, opts.AckTimeout, opts.SessionSweep
	m.RT.Exit = func(reason string) {
		select {
		case m.exit <- reason:
		default: // one reason is enough
		}
	}
	m.RT.WWW, m.RT.Debug, m.RT.Workers, m.RT.WorkersPB, m.RT.WorkersTLS = ls.www, ls.debug, ls.workers, ls.workersPB, tlsCfg
	events := status.NewPublisher(m.RT.Bus, store.Read, opts.Log)
	store.OnCommit(events.Committed)
	m.RT.LogAppended = events.LogAppended
	registerListeners(m.RT.Metrics, map[string]*httpserve.Listener{"remote": ls.remote, "www": ls.www, "debug": ls.debug,
		"workers": ls.workers, "workers_pb": ls.workersPB})
	m.remote, m.RemoteAddr = ls.remote, addrOf(ls.remote)
	pid, err := Spawn(m.RT)
	if err != nil {
		return nil, err
	}
	m.PID = pid
	if err := m.waitRunning(StartProgressEvery); err != nil {
		m.Stop(5 * time.Second)
		return m, err // stopped: m is only for Start to know
	}
	if ls.remote != nil {
		m.control = httpserve.Serve(ls.remote, control.NewServer(system, Accepted(), opts.Log, func(reason string) {
			m.RT.Stats.Dropped.WithLabelValues(reason).Inc()
		}), opts.Log)
	}
	m.heartbeat = startHeartbeat(m, opts.Heartbeat)
	return m, nil
}

// StartProgressEvery is how often a master whose tree is still starting
// logs which actors it waits for.
const StartProgressEvery = 10 * time.Second

// waitRunning waits until the root, every service and every child they
// spawned have handled Started: the whole configured tree is up. It sets
// no deadline of its own, since a loaded machine can take any time to run
// the actors' starts: it waits until the tree runs, or fails when the
// root gives up (a service that cannot start fails past its restart
// limit). Every progressEvery it logs the actors not yet running.
func (m *Master) waitRunning(progressEvery time.Duration) error {
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	start := time.Now()
	for pause := time.Millisecond; ; pause = min(2*pause, 20*time.Millisecond) {
		// The cheap check each poll; the list only for the progress line.
		if m.RT.Tree.AllRunning() && len(m.unspawned()) == 0 {
			return nil
		}
		select {
		case reason := <-m.gaveUp:
			return fmt.Errorf("the master gave up while starting: %v", reason)
		case <-progress.C:
			waiting := append(m.RT.Tree.NotRunning(), m.unspawned()...)
			m.RT.Log.Warn("the master is still starting", slog.Duration("for", time.Since(start).Round(time.Millisecond)),
				slog.Int("waiting", len(waiting)), slog.Any("actors", waiting[:min(len(waiting), 10)]))
		case <-time.After(pause):
		}
	}
}

// unspawned lists the services not in the tree yet.
func (m *Master) unspawned() []string {
	var out []string
	for _, s := range Services() {
		if p := paths.Child(paths.Master, s.Name); m.RT.Tree.Lookup(p) == nil {
			out = append(out, p)
		}
	}
	return out
}

// GaveUp delivers the reason when the root actor failed past its restart
// limit; the process should then stop.
func (m *Master) GaveUp() <-chan any { return m.gaveUp }

// Exit delivers why the master asks its process to stop it: a `buildmaster
// stop`, or a clean shutdown whose last build has finished. The process
// then stops it (Stop), as on SIGTERM.
func (m *Master) Exit() <-chan string { return m.exit }

// Request sends a control message to the master from inside the process
// and waits for the reply, until ctx's deadline (ask.DefaultTimeout when it
// has none). A refusal is an *ask.Error.
func (m *Master) Request(ctx context.Context, msg proto.Message) (proto.Message, error) {
	return ask.Ask[proto.Message](ctx, m.RT.System.Root, m.PID, msg)
}

// Stop stops the heartbeat, the tree gracefully (children before parents),
// then the control endpoint, unbinds the HTTP listeners, marks the master
// stopped in the state (with Buildbot's housekeeping: a build still running
// ends RETRY and its requests are unclaimed), then closes the state (taking
// a snapshot). Calls after the first return its result.
func (m *Master) Stop(timeout time.Duration) error {
	m.stopOnce.Do(func() { m.stopErr = m.stop(timeout) })
	return m.stopErr
}

func (m *Master) stop(timeout time.Duration) error {
	var err error
	m.heartbeat.stop()
	if m.PID != nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		// The stop future's own timeout (protoactor's, 10 s) is no error.
		switch _, e := ask.Await(ctx, m.RT.System.Root.StopFuture(m.PID)); {
		case e == nil:
		case ctx.Err() != nil:
			err = fmt.Errorf("tree did not stop within %s", timeout)
		case !errors.Is(e, actor.ErrTimeout):
			err = e
		}
	}
	m.stopControl(timeout)
	closeListeners(m.remote, m.RT.WWW, m.RT.Debug, m.RT.Workers, m.RT.WorkersPB)
	m.RT.System.Shutdown()
	m.RT.WorkerLines.Stop() // a flapping worker's last line, kept, is logged now
	m.RT.DB.OnCommit(nil)
	m.RT.Bus.Close()
	if e := m.markStopped(timeout); e != nil && err == nil {
		err = e
	}
	if e := m.RT.DB.Close(); e != nil && err == nil {
		err = fmt.Errorf("closing the state: %w", e)
	}
	if m.closeLogs != nil {
		if e := m.closeLogs(); e != nil && err == nil {
			err = fmt.Errorf("closing the log files: %w", e)
		}
	}
	return err
}

// stopControl stops serving the control endpoint, letting the requests in
// flight finish for up to grace.
func (m *Master) stopControl(grace time.Duration) {
	if m.control != nil {
		m.control.Stop(grace)
		m.control = nil
	}
}
