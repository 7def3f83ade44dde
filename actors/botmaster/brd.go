package botmaster

import (
	"cmp"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// BRDPath is the tree path of the build request distributor.
const BRDPath = "master/botmaster/brd"

// brd is the BuildRequestDistributor: it matches unclaimed build requests to
// builders and workers, claims them, and asks the builder to run the build.
//
// It accepts messages.MaybeStartBuilds (from schedulers, after a reconfig),
// messages.WorkerAvailable (from worker actors) and messages.BuildFinished
// (from builds). It reads requests from the state directly (never through a
// mailbox) and claims through the db service without blocking: a worker's
// slot is reserved while its claim is in flight, so no wake-up is lost and
// no slot is given twice.
//
// Choices, as Buildbot's BasicBuildChooser: builders in order of their
// oldest unclaimed request (then name); for each, its oldest request first;
// a worker the builder lists that is connected, under max_builds and not
// already building for this builder. Where Buildbot picks the worker at
// random, brd picks the least busy (then by name), so that choices are
// reproducible.
type brd struct {
	rt       *service.Runtime
	now      func() time.Time
	workers  map[string]*workerSlots
	pending  map[string]bool   // builders to look at
	claiming map[uint64]bool   // requests whose claim is in flight
	idOf     map[string]uint64 // builder name → builderid, once known
}

type workerSlots struct {
	connected bool
	max       int32
	running   int
	builders  map[string]bool // builders it is building for now
}

// claimDone is the result of a claim brd made.
type claimDone struct {
	builder, worker string
	brids           []uint64
	err             error
}

func newBRD(rt *service.Runtime) *brd {
	return &brd{rt: rt, now: time.Now, workers: map[string]*workerSlots{}, pending: map[string]bool{},
		claiming: map[uint64]bool{}, idOf: map[string]uint64{}}
}

// Receive implements actor.Actor.
func (d *brd) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.MaybeStartBuilds:
		d.wake(m.GetBuilders()...)
		d.distribute(ctx)
	case *messages.WorkerAvailable:
		w := d.slots(m.GetWorker())
		w.connected, w.max = m.GetConnected(), m.GetMaxBuilds()
		if w.connected {
			d.wake(d.buildersOf(m.GetWorker())...)
			d.distribute(ctx)
		}
	case *messages.BuildFinished:
		w := d.slots(m.GetWorker())
		if w.builders[m.GetBuilder()] {
			delete(w.builders, m.GetBuilder())
			w.running--
		}
		d.wake(append(d.buildersOf(m.GetWorker()), m.GetBuilder())...)
		d.distribute(ctx)
	case claimDone:
		for _, id := range m.brids {
			delete(d.claiming, id)
		}
		if m.err != nil {
			d.rt.Log.Info("brd: claim failed; trying again", slog.String("builder", m.builder), slog.Any("error", m.err))
			d.release(m.builder, m.worker)
			d.wake(m.builder)
			d.distribute(ctx)
			return
		}
		ctx.Send(actor.NewPID(ctx.Self().Address, BuilderPath(m.builder)), &messages.StartBuild{Brids: m.brids, Worker: m.worker})
	}
}

func (d *brd) slots(worker string) *workerSlots {
	w := d.workers[worker]
	if w == nil {
		w = &workerSlots{builders: map[string]bool{}}
		d.workers[worker] = w
	}
	return w
}

func (d *brd) release(builder, worker string) {
	w := d.slots(worker)
	if w.builders[builder] {
		delete(w.builders, builder)
		w.running--
	}
}

// wake marks builders to look at; none means every configured builder.
func (d *brd) wake(builders ...string) {
	if len(builders) == 0 {
		for _, b := range d.rt.Config().GetBuilders() {
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
	for _, b := range d.rt.Config().GetBuilders() {
		if slices.Contains(b.GetWorkers(), worker) {
			out = append(out, b.GetName())
		}
	}
	return out
}

// distribute starts what it can on the pending builders.
func (d *brd) distribute(ctx actor.Context) {
	if len(d.pending) == 0 {
		return
	}
	cfg := map[string]*messages.BuilderConfig{}
	for _, b := range d.rt.Config().GetBuilders() {
		cfg[b.GetName()] = b
	}
	txn := d.rt.DB.Read()
	type candidate struct {
		name   string
		id     uint64
		oldest int64
	}
	var order []candidate
	for name := range d.pending {
		if cfg[name] == nil {
			continue // not (or no longer) configured: its requests wait
		}
		id := d.builderID(txn, name)
		if id == 0 {
			continue // no request was ever made for it
		}
		oldest := int64(math.MaxInt64)
		for row := range state.ScanIndex(txn, state.TableBuildRequests, state.IndexUnclaimed+"_prefix", false, id) {
			if r := row.(*messages.BuildRequest); !d.claiming[r.Id] {
				oldest = r.SubmittedAt
				break
			}
		}
		order = append(order, candidate{name, id, oldest})
	}
	clear(d.pending)
	slices.SortFunc(order, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.oldest, b.oldest), cmp.Compare(a.name, b.name))
	})
	for _, c := range order {
		if c.oldest == math.MaxInt64 {
			continue
		}
		for row := range state.ScanIndex(txn, state.TableBuildRequests, state.IndexUnclaimed+"_prefix", false, c.id) {
			r := row.(*messages.BuildRequest)
			if d.claiming[r.Id] {
				continue
			}
			worker := d.chooseWorker(cfg[c.name])
			if worker == "" {
				break
			}
			d.claim(ctx, c.name, worker, []uint64{r.Id})
		}
	}
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
// it now, the least busy, then the first by name; "" when none can.
func (d *brd) chooseWorker(b *messages.BuilderConfig) string {
	best, bestRunning := "", 0
	for _, name := range b.GetWorkers() {
		w := d.workers[name]
		if w == nil || !w.connected || w.builders[b.GetName()] || (w.max > 0 && int32(w.running) >= w.max) {
			continue
		}
		if best == "" || w.running < bestRunning || (w.running == bestRunning && name < best) {
			best, bestRunning = name, w.running
		}
	}
	return best
}

// claim reserves the worker's slot and claims the requests for this master;
// the answer comes back as claimDone.
func (d *brd) claim(ctx actor.Context, builder, worker string, brids []uint64) {
	w := d.slots(worker)
	w.builders[builder] = true
	w.running++
	for _, id := range brids {
		d.claiming[id] = true
	}
	f := db.Request(ctx, &messages.Command{Kind: &messages.Command_ClaimBuildRequests{ClaimBuildRequests: &messages.ClaimBuildRequests{
		Masterid: d.rt.MasterID, ClaimedAt: d.now().Unix(), Brids: brids}}})
	self := ctx.Self()
	ctx.ReenterAfter(f, func(res any, err error) {
		_, err = db.Result(res, err)
		ctx.Send(self, claimDone{builder: builder, worker: worker, brids: brids, err: err})
	})
}
