package service

import (
	"crypto/tls"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/buildmaster/buildmaster/internal/mq"
	"golang.org/x/time/rate"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/cache"
	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Runtime is what every actor of one master shares. It is made once by the
// master's owner (cmd/buildmaster, or a test) and handed to each actor at
// spawn; nothing in it is global.
type Runtime struct {
	System   *actor.ActorSystem
	Tree     *Tree
	Strategy *Strategy // supervises every parent's children
	Root     *Strategy // supervises the root; gives up instead of escalating
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	Stats    *Stats
	// Refusals logs, on Log, what the master refuses from the network
	// (wrong logins, a worker's ignored frames, control requests' wrong
	// tokens) within one budget shared by every listener (internal/droplog).
	// NewRuntime makes it and WorkerLines on the real clock; a master
	// started with master.Options.RefusalsNow (tests) makes both again on
	// that clock.
	Refusals *droplog.Log
	// WorkerLines logs, on Log, each worker connection's attached and
	// detached lines, and a login's that replaces a connection that does
	// not answer, within a budget per worker name (droplog.LogAt): the
	// first connects of a worker are logged, a worker that connects in a
	// loop has its lines counted, and the next one logged says how many
	// were not (Stats.WorkerConnections counts every one). The last line
	// dropped is logged once the worker's budget allows a line again, if
	// none came since (droplog.Options.Summarize), or when the master
	// stops (droplog.Log.Stop): a worker that flapped and left for good
	// gets its final "worker detached". It has no
	// budget shared by all workers (Rate: rate.Inf): the names are the
	// configured workers', so a fleet attaching at once is logged whole.
	WorkerLines *droplog.Log

	// DB is the master's state. Only the db service writes to it (through
	// Submit); anyone may read it (DB.Read never waits for writers).
	DB *state.Store
	// Bus is the master's event bus: every committed change of DB is
	// published on it (status.Publisher); the event streams and the pages
	// subscribe.
	Bus *mq.Bus
	// MasterID is this master's id in DB (its row in masters).
	MasterID uint64
	// Logs holds the contents of build logs (DB holds their metadata).
	// Only the db service writes to it (master/db/logs); anyone may read
	// it, at constant memory per reader. nil: no log files (some tests).
	Logs *logchunk.Store
	// Caches are the master's LRU caches (internal/cache); the caches
	// service sizes them from the config, readers such as the data API
	// read through them.
	Caches *cache.Set
	// Applied, when set, is called with each command the db service has
	// applied and its result, after the state shows it (the metrics
	// recorder). It must not block.
	Applied func(*messages.Command, *messages.CommandResult)
	// LogAppended, when set, is called by the log writer each time lines
	// reach a log's file, with how many the file now holds (the status
	// service's Publisher: logs/ID/append on Bus). It must not block.
	LogAppended func(logid uint64, lines int64)

	// WWW and Debug are the HTTP listeners (listen.www, listen.debug), bound
	// by the master before the tree starts and closed after it stops; the
	// status and debug services serve on them (HTTPService). nil: none.
	WWW, Debug *httpserve.Listener
	// Workers and WorkersPB are the worker listeners (listen.workers:
	// msgpack over WebSocket, over TLS when WorkersTLS is set;
	// listen.workers_pb: PB), bound likewise; pbmanager serves them.
	Workers, WorkersPB *httpserve.Listener
	WorkersTLS         *tls.Config

	// Token is the admin token control requests must carry. Never logged.
	Token string
	// DataDir is the master's data directory ("" when ephemeral).
	DataDir string
	// ConfigPath is the file SIGHUP and a bare reconfig re-read ("" when the
	// master runs on the built-in config).
	ConfigPath string
	// Idle, when set, is called by the master when a reconfiguration is
	// over and none is queued. The buildmaster process uses it to hand the
	// memory a config load used back to the system at once.
	Idle func()
	// AckTimeout, when positive, is how long a reconfiguration waits for the
	// services to acknowledge a new generation before it answers anyway, with
	// a warning naming them; 0 means the master's default (master.AckTimeout).
	AckTimeout time.Duration
	// SessionSweep, when positive, is how often the janitor ends the
	// expired web sessions; 0 means its default (db.DefaultSessionSweep).
	SessionSweep time.Duration
	// Exit, when set, asks the process running the master to stop it, as
	// SIGTERM does: a `buildmaster stop`, or a clean shutdown whose last
	// build has finished. It never blocks. The master sets it.
	Exit func(reason string)

	// LogRedactor, when set, is the handler in front of Log that redacts
	// the secret values in use (SetSecrets and RenderedSecrets update it).
	LogRedactor *secrets.LogHandler

	secrets    atomic.Pointer[Secrets]
	redactor   atomic.Pointer[secrets.Redactor] // of secrets.Used and rendered
	rendered   renderedSecrets
	config     atomic.Pointer[messages.MasterConfig]
	generation atomic.Uint64
	input      atomic.Pointer[config.Fingerprint]
}

// Input returns the fingerprint of the input the config in force was loaded
// from; the zero Fingerprint when unknown.
func (rt *Runtime) Input() config.Fingerprint {
	if p := rt.input.Load(); p != nil {
		return *p
	}
	return config.Fingerprint{}
}

// SetInput records the fingerprint of the input the config in force was
// loaded from; only the master calls it, after SetConfig.
func (rt *Runtime) SetInput(f config.Fingerprint) { rt.input.Store(&f) }

// NewRuntime returns the runtime of a master running cfg as generation 1 on
// system. GiveUp is called when the root actor fails past its restart limit.
func NewRuntime(system *actor.ActorSystem, log *slog.Logger, cfg *messages.MasterConfig, giveUp func(reason any)) *Runtime {
	tree := NewTree()
	reg := prometheus.NewRegistry()
	var rt *Runtime
	stats := newStats(reg, tree, func() *state.Store { return rt.DB })
	restarted := func(kind string) { stats.Restarts.WithLabelValues(kind).Inc() }
	rt = &Runtime{
		System:   system,
		Tree:     tree,
		Strategy: &Strategy{Tree: tree, Log: log, Restarted: restarted},
		Root:     &Strategy{Tree: tree, Log: log, GiveUp: giveUp, Restarted: restarted},
		Log:      log,
		Metrics:  reg,
		Stats:    stats,
		Caches:   cache.NewSet(),
		Bus:      mq.New(),
	}
	rt.Refusals, rt.WorkerLines = NewLogBudgets(log, nil, nil)
	rt.SetConfig(1, cfg)
	return rt
}

// NewLogBudgets returns the budgets of Runtime.Refusals and
// Runtime.WorkerLines, logging to log, on the clock now (nil: time.Now)
// with WorkerLines' timer after (nil: time.AfterFunc).
func NewLogBudgets(log *slog.Logger, now func() time.Time, after func(time.Duration, func())) (refusals, workerLines *droplog.Log) {
	return droplog.New(log, droplog.Options{Now: now}),
		droplog.New(log, droplog.Options{Rate: rate.Inf, Now: now, Summarize: true, AfterFunc: after})
}

// Config returns the config generation now in force. It is set by the master
// before it cascades a new generation, so a service restarted mid-cascade
// starts from the new config. Never mutate the result.
func (rt *Runtime) Config() *messages.MasterConfig { return rt.config.Load() }

// Generation returns the number of the config generation now in force.
func (rt *Runtime) Generation() uint64 { return rt.generation.Load() }

// SetConfig installs a new config generation; only the master calls it.
func (rt *Runtime) SetConfig(gen uint64, cfg *messages.MasterConfig) {
	rt.config.Store(cfg)
	rt.generation.Store(gen)
	rt.input.Store(nil)
	sup := cfg.GetSupervision()
	for _, s := range []*Strategy{rt.Strategy, rt.Root} {
		if s != nil {
			s.SetLimits(int(sup.GetMaxRestarts()), sup.GetWithin().AsDuration())
		}
	}
}
