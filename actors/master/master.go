// Package master is the root actor, `master` (Buildbot's BuildMaster). It
// owns the config generation, spawns the services (db first, as Buildbot
// sets up its database before it starts the others: services reach it by
// name as they start; then Buildbot's order: metrics, caches, pbmanager,
// change_svc, botmaster, scheduler_manager, user_manager, debug, status) and
// runs reconfigurations.
//
// It accepts, from other processes as well as from its own:
//   - messages.ReconfigureRequest → messages.ReconfigureResponse
//   - messages.GetTreeRequest → messages.GetTreeResponse (its nodes, or its text)
//   - messages.StopMasterRequest → messages.StopMasterResponse (stop.go)
//
// Each must carry the admin token; a request without it gets a
// messages.ControlError and changes nothing. From its services it accepts
// messages.ConfigApplied.
//
// A reconfiguration validates the whole new config first and, on any error,
// changes nothing and answers with every error. Otherwise it installs the new
// generation and sends the services messages.ApplyConfig in Buildbot's order,
// one phase after the other (Phases): a phase gets it once every service of
// the one before has acknowledged, or once the acknowledgement timeout
// (Runtime.AckTimeout, AckTimeout by default) has passed, with a warning
// naming the services that did not acknowledge. Workers and builders so
// exist before the schedulers make requests for them. It answers after the
// last phase, with the changes by tree path and the warnings (the reply is
// ok all the same: the generation is installed). Requests that arrive
// while one runs are queued and collapsed into one further run, as in
// Buildbot: the latest request wins, and every collapsed caller gets its
// answer.
package master

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/actors/botmaster"
	"github.com/buildmaster/buildmaster/actors/caches"
	"github.com/buildmaster/buildmaster/actors/changes"
	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/debug"
	"github.com/buildmaster/buildmaster/actors/metrics"
	"github.com/buildmaster/buildmaster/actors/pbmanager"
	"github.com/buildmaster/buildmaster/actors/schedulers"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/actors/status"
	"github.com/buildmaster/buildmaster/actors/users"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/treeview"
	"github.com/buildmaster/buildmaster/messages"
)

// AckTimeout bounds how long a reconfiguration waits for the services, unless
// the runtime sets its own (Runtime.AckTimeout, from Options.AckTimeout).
const AckTimeout = 30 * time.Second

// ackTimeoutOf returns how long a reconfiguration of rt waits for the services.
func ackTimeoutOf(rt *service.Runtime) time.Duration {
	if rt.AckTimeout > 0 {
		return rt.AckTimeout
	}
	return AckTimeout
}

// Services returns the master's services in the order they are spawned.
func Services() []service.Spec {
	return []service.Spec{
		db.Spec(), metrics.Spec(), caches.Spec(), pbmanager.Spec(), changes.Spec(), botmaster.Spec(),
		schedulers.Spec(), users.Spec(), debug.Spec(), status.Spec(),
	}
}

// Phases lists the services, by name, in the order a reconfiguration gives
// them a new config: Buildbot's (metrics, caches and the change manager
// before the botmaster, the botmaster before the schedulers and the user
// managers, the web and worker registrations last), with the services of
// one phase applying it at once; a service not listed applies it last. The
// botmaster applies its workers and builders before it tells its
// distributor, and before the schedulers get the config, so that neither
// plans for a builder whose actor does not exist yet.
func Phases() [][]string {
	return [][]string{
		{paths.DBName, paths.MetricsName, paths.CachesName, paths.ChangesName},
		{paths.BotmasterName},
		{paths.SchedulersName, paths.UsersName},
		{paths.PBManagerName, paths.DebugName, paths.StatusName},
	}
}

// phased orders the services' pids by Phases; a service Phases does not
// list gets the config in a phase of its own, after the others.
func phased(byName map[string]*actor.PID) [][]*actor.PID {
	var out [][]*actor.PID
	listed := map[string]bool{}
	for _, names := range Phases() {
		var phase []*actor.PID
		for _, name := range names {
			listed[name] = true
			if pid := byName[name]; pid != nil {
				phase = append(phase, pid)
			}
		}
		if len(phase) > 0 {
			out = append(out, phase)
		}
	}
	var rest []*actor.PID
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		if !listed[name] {
			rest = append(rest, byName[name])
		}
	}
	if len(rest) > 0 {
		out = append(out, rest)
	}
	return out
}

// Spawn starts the master of rt as the root of the tree.
func Spawn(rt *service.Runtime) (*actor.PID, error) {
	return service.SpawnRoot(rt, paths.Master, "master", rt.Root, func() actor.Actor { return newMaster(rt) })
}

type master struct {
	rt       *service.Runtime
	services []service.Spec
	pids     []*actor.PID
	phases   [][]*actor.PID // the services' pids, by Phases

	run    *run      // the reconfiguration under way, or nil
	queued []*waiter // requests that arrived while it ran
	seq    uint64    // identifies runs, for their timeouts
	// loaded: a run since the Idle hook last ran parsed or built a config,
	// so there is garbage of a load for the hook to hand back.
	loaded bool
}

// waiter is one caller of a reconfiguration.
type waiter struct {
	sender *actor.PID
	req    *messages.ReconfigureRequest
}

// run is one reconfiguration under way.
type run struct {
	seq     uint64
	start   time.Time
	waiters []*waiter
	cfg     *messages.MasterConfig
	phase   int             // the phase under way
	pending map[string]bool // its service paths yet to acknowledge
	changes []*messages.ServiceChange
	// warnings go into the reply: services that did not acknowledge in time
	warnings []string
	// secretsChanged names the secrets whose values changed (the reply's)
	secretsChanged []string
	cancel         scheduler.CancelFunc // the phase's timeout
}

type ackTimeout struct {
	seq   uint64
	phase int
}

func newMaster(rt *service.Runtime) *master { return &master{rt: rt, services: Services()} }

// Receive implements actor.Actor.
func (m *master) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.pids = m.pids[:0]
		byName := make(map[string]*actor.PID, len(m.services))
		for _, s := range m.services {
			pid, err := service.Spawn(ctx, m.rt, s.Name, s.Kind, s.Producer(m.rt))
			if err != nil {
				panic(err)
			}
			m.pids = append(m.pids, pid)
			byName[s.Name] = pid
		}
		m.phases = phased(byName)
		m.configureState(ctx)
	case *messages.ReconfigureRequest:
		if !service.Authorized(ctx, m.rt, msg.GetToken()) {
			return
		}
		m.reconfigure(ctx, &waiter{sender: ctx.Sender(), req: msg})
	case *messages.GetTreeRequest:
		if !service.Authorized(ctx, m.rt, msg.GetToken()) {
			return
		}
		res := &messages.GetTreeResponse{Root: m.rt.Tree.Snapshot(paths.Master), Generation: m.rt.Generation()}
		if msg.GetText() {
			res.Text, res.Root = treeview.AppendText(nil, res.Root), nil
		}
		service.Respond(ctx, res)
	case *messages.StopMasterRequest:
		if service.Authorized(ctx, m.rt, msg.GetToken()) {
			m.stopRequest(ctx, msg)
		}
	case *messages.ConfigApplied:
		m.acknowledged(ctx, msg)
	case ackTimeout:
		if m.run != nil && m.run.seq == msg.seq && m.run.phase == msg.phase {
			late := keys(m.run.pending)
			timeout := ackTimeoutOf(m.rt)
			m.rt.Log.Error("reconfig: services did not acknowledge in time", slog.Any("services", late),
				slog.Duration("timeout", timeout))
			m.run.warnings = append(m.run.warnings, unacknowledged(m.rt.Generation(), late, len(m.pids), timeout))
			// Forget the input, so that reconfiguring again with the same
			// config is a new run (each service gets it again) rather than
			// an instant `unchanged`: the operator's way to retry.
			m.rt.SetInput(config.Fingerprint{})
			m.nextPhase(ctx)
		}
	case *actor.Stopping:
		if m.run != nil && m.run.cancel != nil {
			m.run.cancel()
		}
	}
}

func (m *master) reconfigure(ctx actor.Context, w *waiter) {
	if w.req.GetDryRun() {
		m.dryRun(ctx, w)
		return
	}
	if m.run != nil {
		m.rt.Log.Info("reconfig already active; will reconfig again after")
		m.queued = append(m.queued, w)
		return
	}
	m.begin(ctx, []*waiter{w})
}

// begin starts a run for waiters; the last one's request is the one loaded.
func (m *master) begin(ctx actor.Context, waiters []*waiter) {
	start := time.Now()
	req := waiters[len(waiters)-1].req
	m.rt.Log.Info("beginning configuration update", slog.Int("requests", len(waiters)))
	old := m.rt.Config()
	in, errs := m.input(req)
	var cfg *messages.MasterConfig
	same := false
	if len(errs) == 0 {
		cfg, same, errs = m.load(in, old)
	}
	// Only the text in force, found by its fingerprint, loads nothing.
	m.loaded = m.loaded || !same || cfg != nil
	if len(errs) == 0 && same {
		if in.secrets != nil {
			// The values read again: steps rendering secrets read anew too.
			m.rt.SetSecrets(in.secrets)
		}
		// Remember this text, so that it is found unchanged without
		// parsing next time.
		m.rt.SetInput(in.fingerprint)
		m.unchanged(ctx, waiters, in, start)
		return
	}
	if len(errs) > 0 {
		m.rt.Stats.Reconfigs.WithLabelValues("rejected").Inc()
		m.rt.Log.Error("configuration update aborted without making any changes",
			slog.Int("errors", len(errs)), slog.String("errors_text", errs.Error()), slog.Duration("took", time.Since(start)))
		reply := &messages.ReconfigureResponse{Generation: m.rt.Generation(), Errors: errs.Proto(),
			Took: durationpb.New(time.Since(start)), Collapsed: int32(len(waiters))}
		for _, w := range waiters {
			service.Send(ctx, w.sender, reply)
		}
		m.next(ctx)
		return
	}
	m.seq++
	gen := m.rt.Generation() + 1
	rotated := changedSecrets(m.rt.Secrets().Used, in.secrets.Used)
	m.rt.SetConfig(gen, cfg)
	m.rt.SetSecrets(in.secrets)
	m.rt.SetInput(in.fingerprint)
	r := &run{seq: m.seq, start: start, waiters: waiters, cfg: cfg, phase: -1, secretsChanged: rotated}
	if len(rotated) > 0 {
		m.rt.Log.Info("reconfig: secrets changed in their providers", slog.Any("secrets", rotated))
	}
	if c := service.PartChange(paths.Master, supervision, old, cfg); c != nil {
		r.changes = append(r.changes, c) // SetConfig applied the new limits
	}
	m.run = r
	m.nextPhase(ctx)
}

// nextPhase sends the run's config to the services of its next phase, or,
// after the last one, finishes the run.
func (m *master) nextPhase(ctx actor.Context) {
	r := m.run
	if r.cancel != nil {
		r.cancel()
	}
	r.phase++
	if r.phase == len(m.phases) {
		m.finish(ctx)
		return
	}
	r.pending = make(map[string]bool, len(m.phases[r.phase]))
	for _, pid := range m.phases[r.phase] {
		r.pending[pid.Id] = true
		ctx.Request(pid, &messages.ApplyConfig{Generation: m.rt.Generation(), Config: r.cfg})
	}
	r.cancel = scheduler.NewTimerScheduler(m.rt.System.Root).SendOnce(ackTimeoutOf(m.rt), ctx.Self(),
		ackTimeout{seq: r.seq, phase: r.phase})
}

// unchanged answers waiters that their config is the one in force.
func (m *master) unchanged(ctx actor.Context, waiters []*waiter, in *input, start time.Time) {
	m.rt.Stats.Reconfigs.WithLabelValues("unchanged").Inc()
	m.rt.Log.Info("configuration update complete: unchanged", slog.Uint64("generation", m.rt.Generation()),
		slog.String("config", in.name), slog.Duration("took", time.Since(start)))
	reply := &messages.ReconfigureResponse{Ok: true, Unchanged: true, Generation: m.rt.Generation(),
		Took: durationpb.New(time.Since(start)), Collapsed: int32(len(waiters))}
	for _, w := range waiters {
		service.Send(ctx, w.sender, reply)
	}
	m.next(ctx)
}

func (m *master) acknowledged(ctx actor.Context, ack *messages.ConfigApplied) {
	if m.run == nil || ack.GetGeneration() != m.rt.Generation() || !m.run.pending[ack.GetPath()] {
		return
	}
	delete(m.run.pending, ack.GetPath())
	m.run.changes = append(m.run.changes, ack.GetChanges()...)
	if len(m.run.pending) == 0 {
		m.nextPhase(ctx)
	}
}

func (m *master) finish(ctx actor.Context) {
	r := m.run
	m.run = nil
	took := time.Since(r.start)
	sortChanges(r.changes)
	m.rt.Stats.Reconfigs.WithLabelValues("applied").Inc()
	m.rt.Stats.ReconfigSeconds.Observe(took.Seconds())
	if len(r.warnings) > 0 {
		m.rt.Log.Warn("configuration update complete, with warnings", slog.Uint64("generation", m.rt.Generation()),
			slog.Int("changes", len(r.changes)), slog.Any("warnings", r.warnings), slog.Duration("took", took))
	} else {
		m.rt.Log.Info("configuration update complete", slog.Uint64("generation", m.rt.Generation()),
			slog.Int("changes", len(r.changes)), slog.Duration("took", took))
	}
	reply := &messages.ReconfigureResponse{Ok: true, Generation: m.rt.Generation(), Changes: r.changes,
		Took: durationpb.New(took), Collapsed: int32(len(r.waiters)), Warnings: r.warnings, SecretsChanged: r.secretsChanged}
	for _, w := range r.waiters {
		service.Send(ctx, w.sender, reply)
	}
	m.configureState(ctx)
	m.next(ctx)
}

// configureState records in the state what this master runs now (for the
// data API), in the background.
func (m *master) configureState(ctx actor.Context) {
	if m.rt.DB == nil || m.rt.MasterID == 0 {
		return
	}
	c := configured(m.rt.MasterID, m.rt.Config())
	db.Submit(ctx, &messages.Command{Kind: &messages.Command_ConfigureMaster{ConfigureMaster: c}}, func(_ *messages.CommandResult, err error) {
		if err != nil {
			m.rt.Log.Warn("cannot record the builders, workers, schedulers and change sources in the state", slog.Any("error", err))
		}
	})
}

// next starts one run for everything queued meanwhile.
// It is called at the end of every run; when nothing is queued, the
// runtime's Idle hook (if any) runs, unless no run since it last ran
// loaded a config: a reconfig with the text in force (found by its
// fingerprint, in microseconds) leaves no garbage to hand back, and the
// process's hook (a full collection of the whole heap) would cost the
// machine far more than the run, right while the client that asked
// finishes.
func (m *master) next(ctx actor.Context) {
	if len(m.queued) == 0 {
		if m.rt.Idle != nil && m.loaded {
			m.loaded = false
			m.rt.Idle()
		}
		return
	}
	waiters := m.queued
	m.queued = nil
	m.begin(ctx, waiters)
}

func (m *master) dryRun(ctx actor.Context, w *waiter) {
	start := time.Now()
	old := m.rt.Config()
	reply := &messages.ReconfigureResponse{DryRun: true, Generation: m.rt.Generation()}
	in, errs := m.input(w.req)
	var cfg *messages.MasterConfig
	same := false
	if len(errs) == 0 {
		cfg, same, errs = m.load(in, old)
	}
	switch {
	case len(errs) > 0:
		reply.Errors = errs.Proto()
	case same:
		reply.Ok, reply.Unchanged = true, true
	default:
		reply.Ok = true
		reply.Changes = Plan(old, cfg)
		reply.SecretsChanged = changedSecrets(m.rt.Secrets().Used, in.secrets.Used)
	}
	m.rt.Stats.Reconfigs.WithLabelValues("dry_run").Inc()
	reply.Took = durationpb.New(time.Since(start))
	service.Send(ctx, w.sender, reply)
}

// Plan returns what a reconfiguration from old to new changes, by tree path,
// without touching anything: the dry run.
func Plan(old, new *messages.MasterConfig) []*messages.ServiceChange {
	var out []*messages.ServiceChange
	if c := service.PartChange(paths.Master, supervision, old, new); c != nil {
		out = append(out, c)
	}
	for _, s := range Services() {
		out = append(out, s.Plan(paths.Master, old, new)...)
	}
	sortChanges(out)
	return out
}

func sortChanges(cs []*messages.ServiceChange) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].GetPath() < cs[j].GetPath() })
}

// unacknowledged is the warning of a run whose services late (of total) did
// not acknowledge generation gen within timeout.
func unacknowledged(gen uint64, late []string, total int, timeout time.Duration) string {
	return fmt.Sprintf("%d of %d services did not acknowledge generation %d within the %s timeout: %s; "+
		"the generation is installed, but they may apply it late or not at all, and their changes are not listed; "+
		"the same reconfig again resends it to every service",
		len(late), total, gen, timeout, strings.Join(late, ", "))
}
