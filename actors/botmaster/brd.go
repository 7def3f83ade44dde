package botmaster

import (
	"cmp"
	"errors"
	"iter"
	"log/slog"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// brd is the BuildRequestDistributor: it matches unclaimed build requests to
// builders and workers and asks the builder to run the build, which claims
// them as it adds itself to the state.
//
// It plans with the config botmaster gives it (brdConfig, once botmaster's
// workers and builders are in line with it; brd asks for it as it starts),
// not with the runtime's, which a reconfig installs before the builders it
// adds exist. It accepts brdConfig, messages.MaybeStartBuilds (from
// schedulers), messages.WorkerAvailable (from worker actors), claimDone and
// messages.BuildFinished (from builds), and messages.Distribute (from
// botmaster: a clean shutdown switches distribution off). It reads requests from the state
// directly (never through a mailbox): a worker's slot and the requests are
// reserved while their claim is in flight, so no wake-up is lost and no
// slot is given twice.
//
// A build start is a request (StartBuild) that the builder answers at once.
// When it does not start the build (it refuses, it is not there, it stops
// with the request unread, or it does not answer within StartTimeout), brd
// frees the requests and the worker's slot and wakes the worker's other
// builders; that builder's requests wait for its next wake-up (a new
// config, a new request, a build of it ending, its actor starting), so
// that a builder that is not there is not asked again and again.
//
// Choices, as Buildbot's BasicBuildChooser: builders in order of their
// oldest unclaimed request (then name); for each, its oldest request first;
// a worker the builder lists that is connected, under max_builds, not
// already building for this builder, and where the builder's locks are
// free (a master lock is one for all workers, a worker lock one per
// worker; exclusive takes it alone, counting as one of max_count). A build
// holds its locks from its claim until it finishes. Where Buildbot picks the worker at
// random, brd picks the least busy (then by name), so that choices are
// reproducible.
type brd struct {
	rt       *service.Runtime
	now      func() time.Time
	cfg      *messages.MasterConfig // botmaster's; nil until it has sent it
	asking   map[uint64]assignment  // builds asked for, not yet answered, by attempt
	attempts uint64
	watching map[string]bool // builders' paths brd watches
	workers  map[string]*workerSlots
	pending  map[string]bool   // builders to look at
	claiming map[uint64]bool   // requests whose claim is in flight
	idOf     map[string]uint64 // builder name → builderid, once known
	locks    map[string]*lockState
	held     map[string][]heldLock // by builder+"\x00"+worker: what its build holds
	off      bool                  // distribution switched off (Distribute): no build starts
	// byName caches the config's builders and locks by name, for the
	// config it was made from (a reconfig installs a new one).
	byName struct {
		cfg      *messages.MasterConfig
		builders map[string]*messages.BuilderConfig
		locks    map[string]*messages.LockConfig
		workers  map[string]map[string]bool // builder → the workers it lists
	}
}

// lockState is one lock's holders: a master lock by its name, a worker
// lock by its name and the worker's.
type lockState struct {
	holders   int
	exclusive bool
}

type heldLock struct {
	key       string
	exclusive bool
}

type workerSlots struct {
	connected bool
	paused    bool
	max       int32
	running   int
	builders  map[string]bool // builders it is building for now
	// quarantine: after a build ended EXCEPTION the worker takes no build
	// until quarantinedUntil; the next wait doubles (Buildbot's quarantine).
	quarantinedUntil time.Time
	quarantine       time.Duration
}

// Quarantine bounds: the first wait after an EXCEPTION, and the longest.
const (
	QuarantineInitial = 10 * time.Second
	QuarantineMax     = time.Hour
)

// quarantineOver wakes the distributor when a worker's quarantine ends.
type quarantineOver struct {
	worker string
	until  time.Time
}

// claimDone is how the claim of a build brd started ended: the build claims
// its requests as it adds itself to the state (one command), and tells brd.
// A build that could not claim them (another master did, or the state
// refused) ran nothing: brd frees what it reserved for it.
type claimDone struct {
	builder, worker string
	brids           []uint64
	err             error
}

// brdConfig is the config brd plans with, from botmaster.
type brdConfig struct{ cfg *messages.MasterConfig }

// configWanted asks botmaster for brdConfig: brd has (re)started.
type configWanted struct{}

// StartTimeout bounds how long brd waits for a builder to answer a
// StartBuild (it answers at once, unless it is wedged).
const StartTimeout = time.Minute

func newBRD(rt *service.Runtime) *brd {
	return &brd{rt: rt, now: time.Now, workers: map[string]*workerSlots{}, pending: map[string]bool{},
		claiming: map[uint64]bool{}, idOf: map[string]uint64{}, locks: map[string]*lockState{}, held: map[string][]heldLock{},
		asking: map[uint64]assignment{}, watching: map[string]bool{}}
}

// Receive implements actor.Actor.
func (d *brd) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Send(ctx.Parent(), configWanted{})
	case brdConfig:
		d.cfg = m.cfg
		d.wake()
		d.distribute(ctx)
	case *actor.Terminated: // a builder brd watches
		d.builderGone(m.GetWho())
		d.distribute(ctx)
	case *messages.MaybeStartBuilds:
		d.wake(m.GetBuilders()...)
		d.distribute(ctx)
	case *messages.Distribute:
		d.switchDistribution(ctx, m.GetEnabled())
	case *messages.WorkerAvailable:
		w := d.slots(m.GetWorker())
		w.connected, w.max, w.paused = m.GetConnected(), m.GetMaxBuilds(), m.GetPaused()
		if m.GetEndQuarantine() {
			w.quarantinedUntil = time.Time{} // its length stays: the next one doubles
		}
		d.countWorkers()
		if w.connected && !w.paused {
			d.wake(d.buildersOf(m.GetWorker())...)
			d.distribute(ctx)
		}
	case *messages.BuildFinished:
		if d.release(m.GetBuilder(), m.GetWorker()) {
			d.wake()
		}
		was := !d.slots(m.GetWorker()).quarantinedUntil.IsZero()
		if until, ok := d.finished(m.GetWorker(), m.GetResults()); ok {
			d.rt.Log.Warn("worker quarantined after a build ended in EXCEPTION", slog.String("worker", m.GetWorker()),
				slog.Time("until", until))
			scheduler.NewTimerScheduler(ctx).SendOnce(until.Sub(d.now()), ctx.Self(), quarantineOver{worker: m.GetWorker(), until: until})
			ctx.Send(actor.NewPID(ctx.Self().Address, paths.Worker(m.GetWorker())), &messages.WorkerQuarantine{
				Until: timestamppb.New(until), Timeout: durationpb.New(d.slots(m.GetWorker()).quarantine)})
		} else if was && d.slots(m.GetWorker()).quarantinedUntil.IsZero() {
			ctx.Send(actor.NewPID(ctx.Self().Address, paths.Worker(m.GetWorker())), &messages.WorkerQuarantine{})
		}
		d.countWorkers()
		d.wake(append(d.buildersOf(m.GetWorker()), m.GetBuilder())...)
		d.distribute(ctx)
	case quarantineOver:
		if d.slots(m.worker).quarantinedUntil.Equal(m.until) {
			ctx.Send(actor.NewPID(ctx.Self().Address, paths.Worker(m.worker)), &messages.WorkerQuarantine{})
		}
		d.countWorkers()
		d.wake(d.buildersOf(m.worker)...)
		d.distribute(ctx)
	case claimDone:
		for _, id := range m.brids {
			delete(d.claiming, id)
		}
		if m.err != nil {
			d.rt.Log.Info("brd: claim failed; trying again", slog.String("builder", m.builder), slog.Any("error", m.err))
			if d.release(m.builder, m.worker) {
				d.wake()
			}
			d.wake(m.builder)
			d.distribute(ctx)
		}
	}
}

// countWorkers sets the workers gauges (service.Stats.Workers) from what
// the distributor knows of each worker.
func (d *brd) countWorkers() {
	if d.rt == nil { // a distributor made by a test of its policy alone
		return
	}
	var connected, paused, quarantined float64
	now := d.now()
	for _, w := range d.workers {
		if w.connected {
			connected++
		}
		if w.paused {
			paused++
		}
		if now.Before(w.quarantinedUntil) {
			quarantined++
		}
	}
	g := d.rt.Stats.Workers
	g.WithLabelValues("connected").Set(connected)
	g.WithLabelValues("paused").Set(paused)
	g.WithLabelValues("quarantined").Set(quarantined)
}

func (d *brd) slots(worker string) *workerSlots {
	w := d.workers[worker]
	if w == nil {
		w = &workerSlots{builders: map[string]bool{}}
		d.workers[worker] = w
	}
	return w
}

// release frees what a build of builder on worker held: the worker's slot
// and its locks. It reports whether it freed locks (which may let any
// builder go on: the caller wakes them all).
func (d *brd) release(builder, worker string) (freedLocks bool) {
	w := d.slots(worker)
	if w.builders[builder] {
		delete(w.builders, builder)
		w.running--
	}
	key := builder + "\x00" + worker
	if held := d.held[key]; len(held) > 0 {
		for _, h := range held {
			if st := d.locks[h.key]; st != nil {
				st.holders--
				st.exclusive = st.exclusive && !h.exclusive
			}
		}
		freedLocks = true
	}
	delete(d.held, key)
	return freedLocks
}

// finished updates a worker's quarantine for a build's results, as
// Buildbot: EXCEPTION puts it in quarantine (the wait doubling each time, up
// to QuarantineMax); anything but RETRY ends it. It returns when a new
// quarantine ends.
func (d *brd) finished(worker string, results int32) (time.Time, bool) {
	w := d.slots(worker)
	switch results {
	case state.ResultException:
		w.quarantine = min(max(2*w.quarantine, QuarantineInitial), QuarantineMax)
		w.quarantinedUntil = d.now().Add(w.quarantine)
		return w.quarantinedUntil, true
	case state.ResultRetry, -1:
	default:
		w.quarantine, w.quarantinedUntil = 0, time.Time{}
	}
	return time.Time{}, false
}

// lockKey is the key of lock l for a build on worker.
func lockKey(l *messages.LockConfig, worker string) string {
	if l.GetType() == messages.LockType_LOCK_TYPE_WORKER {
		return l.GetName() + "\x00" + worker
	}
	return l.GetName()
}

// locksFree reports whether a build of b on worker could take all its locks.
func (d *brd) locksFree(locks map[string]*messages.LockConfig, b *messages.BuilderConfig, worker string) bool {
	for _, a := range b.GetLocks() {
		l := locks[a.GetName()]
		if l == nil {
			continue
		}
		st := d.locks[lockKey(l, worker)]
		if st == nil {
			continue
		}
		if a.GetAccess() == messages.LockAccessMode_LOCK_ACCESS_MODE_EXCLUSIVE {
			if st.holders > 0 {
				return false
			}
		} else if st.exclusive || st.holders >= max(int(l.GetMaxCount()), 1) {
			return false
		}
	}
	return true
}

// takeLocks takes b's locks for a build on worker (locksFree said they are free).
func (d *brd) takeLocks(locks map[string]*messages.LockConfig, b *messages.BuilderConfig, worker string) {
	key := b.GetName() + "\x00" + worker
	for _, a := range b.GetLocks() {
		l := locks[a.GetName()]
		if l == nil {
			continue
		}
		k := lockKey(l, worker)
		st := d.locks[k]
		if st == nil {
			st = &lockState{}
			d.locks[k] = st
		}
		ex := a.GetAccess() == messages.LockAccessMode_LOCK_ACCESS_MODE_EXCLUSIVE
		st.holders++
		st.exclusive = st.exclusive || ex
		d.held[key] = append(d.held[key], heldLock{key: k, exclusive: ex})
	}
}

// wake marks builders to look at; none means every configured builder.
func (d *brd) wake(builders ...string) {
	if len(builders) == 0 {
		for _, b := range d.cfg.GetBuilders() {
			d.pending[b.GetName()] = true
		}
	}
	for _, b := range builders {
		d.pending[b] = true
	}
}

// buildersOf lists the configured builders that may use worker.
func (d *brd) buildersOf(worker string) []string {
	var out []string
	for _, b := range d.cfg.GetBuilders() {
		if slices.Contains(b.GetWorkers(), worker) {
			out = append(out, b.GetName())
		}
	}
	return out
}

// switchDistribution switches distribution on or off (Buildbot's clean
// shutdown detaches the distributor: no build starts; the builders to look
// at are still noted) and answers how many builds it started that have not
// finished. Switched on again, it looks at every builder.
func (d *brd) switchDistribution(ctx actor.Context, on bool) {
	wasOff := d.off
	d.off = !on
	if wasOff && on {
		d.wake()
		d.distribute(ctx)
	}
	reserved := 0
	for _, w := range d.workers {
		reserved += w.running
	}
	ctx.Respond(&messages.DistributionState{Enabled: on, ReservedBuilds: int32(reserved)})
}

// distribute starts what it can on the pending builders.
func (d *brd) distribute(ctx actor.Context) {
	if len(d.pending) == 0 || d.off {
		return
	}
	cfg := d.cfg
	txn := d.rt.DB.Read()
	names := make([]string, 0, len(d.pending))
	for name := range d.pending {
		names = append(names, name)
	}
	clear(d.pending)
	queue := func(builder string) iter.Seq[*messages.BuildRequest] {
		return func(yield func(*messages.BuildRequest) bool) {
			id := d.builderID(txn, builder)
			if id == 0 {
				return // no request was ever made for it
			}
			for row := range state.ScanIndex(txn, state.TableBuildRequests, state.IndexUnclaimed+"_prefix", false, id) {
				if !yield(row.(*messages.BuildRequest)) {
					return
				}
			}
		}
	}
	for _, a := range d.plan(cfg, names, queue) {
		d.start(ctx, a)
	}
}

// start asks a's builder to run it. The builder is watched, so that one
// that stops with the request unread is noticed.
func (d *brd) start(ctx actor.Context, a assignment) {
	pid := actor.NewPID(ctx.Self().Address, paths.Builder(a.builder))
	if !d.watching[pid.Id] {
		d.watching[pid.Id] = true
		ctx.Watch(pid)
	}
	d.attempts++
	attempt := d.attempts
	d.asking[attempt] = a
	ask.Async(ctx, pid, &messages.StartBuild{Brids: a.brids, Worker: a.worker}, StartTimeout, func(_ *emptypb.Empty, err error) {
		if _, ok := d.asking[attempt]; !ok {
			return // its builder stopped meanwhile: already given up
		}
		delete(d.asking, attempt)
		if err != nil {
			d.notStarted(a, err)
			d.distribute(ctx)
		}
	})
}

// builderGone gives up the builds asked of the builder at pid, which has
// stopped: it will not answer.
func (d *brd) builderGone(pid *actor.PID) {
	delete(d.watching, pid.Id)
	for attempt, a := range d.asking {
		if paths.Builder(a.builder) == pid.Id {
			delete(d.asking, attempt)
			d.notStarted(a, errors.New("the builder stopped"))
		}
	}
}

// notStarted frees what brd reserved for a build its builder did not start,
// and wakes the builders that may use the freed worker, but not that one.
func (d *brd) notStarted(a assignment, why error) {
	d.rt.Log.Warn("brd: the builder did not start the build; its requests wait", slog.String("builder", a.builder),
		slog.String("worker", a.worker), service.IDs("brids", a.brids), slog.Any("error", why))
	for _, id := range a.brids {
		delete(d.claiming, id)
	}
	if d.release(a.builder, a.worker) {
		d.wake()
	}
	d.wake(d.buildersOf(a.worker)...)
	delete(d.pending, a.builder)
}

// index returns cfg's builders and locks by name, made once per config.
func (d *brd) index(cfg *messages.MasterConfig) (map[string]*messages.BuilderConfig, map[string]*messages.LockConfig) {
	if d.byName.cfg != cfg {
		d.byName.cfg = cfg
		d.byName.builders = make(map[string]*messages.BuilderConfig, len(cfg.GetBuilders()))
		d.byName.workers = make(map[string]map[string]bool, len(cfg.GetBuilders()))
		for _, b := range cfg.GetBuilders() {
			d.byName.builders[b.GetName()] = b
			ws := make(map[string]bool, len(b.GetWorkers()))
			for _, w := range b.GetWorkers() {
				ws[w] = true
			}
			d.byName.workers[b.GetName()] = ws
		}
		d.byName.locks = make(map[string]*messages.LockConfig, len(cfg.GetLocks()))
		for _, l := range cfg.GetLocks() {
			d.byName.locks[l.GetName()] = l
		}
	}
	return d.byName.builders, d.byName.locks
}

// assignment is a build brd decided to start.
type assignment struct {
	builder, worker string
	brids           []uint64
}

// plan decides which builds start now on the named builders, given each
// builder's unclaimed requests oldest first (queue), and reserves what
// they take (the worker's slot, the locks, the requests) until they finish
// or their claim fails. It is the distributor's whole policy, deterministic
// for a given state.
func (d *brd) plan(cfg *messages.MasterConfig, names []string, queue func(string) iter.Seq[*messages.BuildRequest]) []assignment {
	builders, locks := d.index(cfg)
	type candidate struct {
		name   string
		oldest int64
	}
	var order []candidate
	for _, name := range names {
		if builders[name] == nil {
			continue // not (or no longer) configured: its requests wait
		}
		for r := range queue(name) {
			if !d.claiming[r.Id] {
				order = append(order, candidate{name, r.SubmittedAt})
				break
			}
		}
	}
	slices.SortFunc(order, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.oldest, b.oldest), cmp.Compare(a.name, b.name))
	})
	// The workers that could take a build now, for some builder: when a
	// build ends, one is free, and each builder looks at it alone.
	now := d.now()
	free := map[string]bool{}
	for name, w := range d.workers {
		if w.available(now) {
			free[name] = true
		}
	}
	var out []assignment
	for _, c := range order {
		if len(free) == 0 {
			break
		}
		for r := range queue(c.name) {
			if d.claiming[r.Id] {
				continue
			}
			worker := d.chooseWorker(locks, builders[c.name], free)
			if worker == "" {
				break
			}
			d.takeLocks(locks, builders[c.name], worker)
			w := d.slots(worker)
			w.builders[c.name] = true
			w.running++
			if !w.available(now) {
				delete(free, worker)
			}
			d.claiming[r.Id] = true
			out = append(out, assignment{builder: c.name, worker: worker, brids: []uint64{r.Id}})
		}
	}
	return out
}

// available reports whether the worker could take a build now, for a
// builder it is not building for: connected, not paused, under max_builds,
// not in quarantine.
func (w *workerSlots) available(now time.Time) bool {
	return w.connected && !w.paused && (w.max <= 0 || int32(w.running) < w.max) && !now.Before(w.quarantinedUntil)
}

func (d *brd) builderID(txn *memdb.Txn, name string) uint64 {
	if id, ok := d.idOf[name]; ok {
		return id
	}
	raw, err := txn.First(state.TableBuilders, state.IndexName, name)
	if err != nil || raw == nil {
		return 0
	}
	id := raw.(*messages.Builder).Id
	d.idOf[name] = id
	return id
}

// chooseWorker picks, among the builder's workers that can take a build for
// it now (connected, not paused, under max_builds, not building for it, not in
// quarantine, its locks free there), the least busy, then the first by name; "" when none can.
func (d *brd) chooseWorker(locks map[string]*messages.LockConfig, b *messages.BuilderConfig, free map[string]bool) string {
	best, bestRunning := "", 0
	consider := func(name string) {
		w := d.workers[name]
		if w.builders[b.GetName()] || !d.locksFree(locks, b, name) {
			return
		}
		if best == "" || w.running < bestRunning || (w.running == bestRunning && name < best) {
			best, bestRunning = name, w.running
		}
	}
	// Whichever is shorter: the free workers, or the builder's.
	if len(free) < len(b.GetWorkers()) {
		listed := d.byName.workers[b.GetName()]
		for name := range free {
			if listed[name] {
				consider(name)
			}
		}
	} else {
		for _, name := range b.GetWorkers() {
			if free[name] {
				consider(name)
			}
		}
	}
	return best
}
