package botmaster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// StopBuild asks a running build to stop: its current step is interrupted
// and the build ends CANCELLED (Buildbot's stopBuild).
type StopBuild struct{ Reason string }

// build is one running build (`build:BRID` under its builder, Buildbot's
// Build). Its steps run one after the other in a goroutine of its own, which
// writes through the db service and waits for the worker's updates; the
// actor relays those updates to it, so no mailbox ever waits.
//
// It accepts messages.CommandUpdate (from its worker's actor),
// messages.Triggered and messages.BuildsetCompleted (for a trigger step),
// and StopBuild.
// It claims its requests as it adds itself to the state, and tells brd
// whether it could (claimDone). When the build is over it has finished the
// build in the state, completed its requests (or, for RETRY, unclaimed them
// so they run again), told brd (messages.BuildFinished), and stopped
// itself. Stopped from outside (the master stopping), it writes nothing
// more: the next start's housekeeping ends the build RETRY and unclaims its
// requests.
type build struct {
	rt      *service.Runtime
	log     *slog.Logger // its builder's
	cfg     *messages.BuilderConfig
	start   *messages.StartBuild
	updates chan *messages.CommandUpdate
	events  chan proto.Message // Triggered, BuildsetCompleted: for a trigger step
	ctx     context.Context
	cancel  context.CancelCauseFunc
	stopped chan string // a StopBuild's reason
}

func newBuild(rt *service.Runtime, log *slog.Logger, cfg *messages.BuilderConfig, start *messages.StartBuild) *build {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &build{rt: rt, log: log, cfg: cfg, start: start, updates: make(chan *messages.CommandUpdate, 64),
		events: make(chan proto.Message, 64), ctx: ctx, cancel: cancel, stopped: make(chan string, 1)}
}

// errMasterStopping cancels a build whose actor is stopped from outside.
var errMasterStopping = errors.New("the master is stopping")

// Receive implements actor.Actor.
func (b *build) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self := ctx.Self()
		r := &runner{build: b, system: ctx.ActorSystem(), self: self,
			worker: actor.NewPID(self.Address, paths.Worker(b.start.GetWorker())), brd: actor.NewPID(self.Address, paths.BRD)}
		go r.run()
	case *messages.CommandUpdate:
		select {
		case b.updates <- m:
		case <-b.ctx.Done():
		}
	case *messages.Triggered, *messages.BuildsetCompleted:
		select {
		case b.events <- m.(proto.Message):
		case <-b.ctx.Done():
		}
	case *StopBuild:
		select {
		case b.stopped <- m.Reason:
		default:
		}
	case *actor.Stopping:
		b.cancel(errMasterStopping)
	}
}

// runner runs a build's steps, outside the actor.
type runner struct {
	*build
	system *actor.ActorSystem
	self   *actor.PID
	// worker and brd are the actors of the build's worker and of brd,
	// made once: a PID keeps the process it was sent to, so that later
	// sends skip the registry's lookup by name.
	worker, brd *actor.PID
	buildid     uint64
	props       properties
	seq         int
	// stepName is the step running, for errors.
	stepName string
	// stopReason is set once a StopBuild arrived: only always_run steps
	// still run.
	stopReason string
	// finishing is the finish of the last step that ended, written with
	// the start of the next step or with the build's finish.
	finishing *messages.FinishStep
	// started is the first step's id and log ids: AddBuild started it.
	started []uint64
}

func (r *runner) call(cmd *messages.Command) (*messages.CommandResult, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, context.Cause(r.ctx)
	}
	return db.Call(context.Background(), r.system, cmd)
}

func (r *runner) run() {
	r.system.Root.Send(r.worker, workerBuild{delta: 1})
	defer r.system.Root.Send(r.worker, workerBuild{delta: -1})
	defer r.system.Root.Stop(r.self)
	results, err := r.steps()
	switch {
	case errors.Is(context.Cause(r.ctx), errMasterStopping):
		return // housekeeping at the next start ends it RETRY
	case r.buildid == 0:
		r.notStarted(err)
		return
	case err != nil:
		r.log.Error("build failed to run", slog.Uint64("buildid", r.buildid), slog.Any("error", err))
		results = state.ResultException
	}
	// The build, its last step and its requests end together: the requests
	// completed with its results, or, for RETRY, given back to run again.
	if res, err := r.call(&messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
		Buildid: r.buildid, Results: results, CompleteAt: time.Now().Unix(), StateString: resultString(results),
		Brids: r.start.GetBrids(), LastStep: r.finishing}}}); err != nil {
		r.log.Error("cannot finish the build and its requests", slog.Uint64("buildid", r.buildid), slog.Any("brids", r.start.GetBrids()),
			slog.Any("error", err))
	} else {
		r.announce(res.GetCompletedBuildsets())
	}
	r.logFinished(results)
	r.system.Root.Send(r.brd, &messages.BuildFinished{Builder: r.cfg.GetName(),
		Worker: r.start.GetWorker(), Buildid: r.buildid, Results: results})
}

// logStarted and logFinished write the lines every build logs, without
// allocating: LogAttrs, as its attributes boxed into Info's ...any each
// cost an allocation.
func (r *runner) logStarted(number int32) {
	r.log.LogAttrs(context.Background(), slog.LevelInfo, "build started", slog.Uint64("buildid", r.buildid),
		slog.Int("number", int(number)), slog.String("worker", r.start.GetWorker()))
}

func (r *runner) logFinished(results int32) {
	r.log.LogAttrs(context.Background(), slog.LevelInfo, "build finished", slog.Uint64("buildid", r.buildid),
		slog.String("worker", r.start.GetWorker()), slog.String("results", resultString(results)))
}

// notStarted ends a build whose AddBuild (with the claim of its requests)
// was refused: brd frees its reservation. Requests another master claimed
// or completed meanwhile are that master's; requests the state refused to
// build (a bad command) are completed as EXCEPTION so that they do not run
// again and again; after any other error (the state not answering) they
// stay unclaimed and run again.
func (r *runner) notStarted(err error) {
	defer r.system.Root.Send(r.brd, claimDone{builder: r.cfg.GetName(), worker: r.start.GetWorker(), brids: r.start.GetBrids(), err: err})
	if !errors.Is(err, ask.ErrInvalidArgument) { // state.ErrBadCommand, from the db service
		return
	}
	txn := r.rt.DB.Read()
	for _, id := range r.start.GetBrids() {
		if req, _ := state.Lookup(txn, state.TableBuildRequests, id).(*messages.BuildRequest); req == nil || req.GetComplete() || req.GetClaim() != nil {
			return // lost the claim
		}
	}
	r.log.Error("cannot start a build; its requests end as EXCEPTION", slog.Any("brids", r.start.GetBrids()), slog.Any("error", err))
	res, cerr := r.call(&messages.Command{Kind: &messages.Command_CompleteBuildRequests{CompleteBuildRequests: &messages.CompleteBuildRequests{
		Brids: r.start.GetBrids(), Results: state.ResultException, CompleteAt: time.Now().Unix()}}})
	if cerr != nil {
		r.log.Error("cannot complete the requests", slog.Any("brids", r.start.GetBrids()), slog.Any("error", cerr))
		return
	}
	r.announce(res.GetCompletedBuildsets())
}

// steps adds the build — claiming its requests, with Buildbot's
// worker_preparation pseudo-step and its first step — and runs its steps;
// it returns the build's results. The finish of each step goes with the
// start of the next, and the last one's with the build's finish
// (r.finishing holds it meanwhile).
//
// worker_preparation is done as the build starts: the worker is logged in
// and answering keepalives, and its commands make their own directories (as
// Buildbot's worker does), so there is nothing to wait for. A worker that is
// gone all the same fails the first command, and the build ends RETRY.
func (r *runner) steps() (int32, error) {
	txn := r.rt.DB.Read()
	req, _ := state.Lookup(txn, state.TableBuildRequests, r.start.GetBrids()[0]).(*messages.BuildRequest)
	if req == nil {
		return 0, fmt.Errorf("build request %d does not exist", r.start.GetBrids()[0])
	}
	r.props = r.initialProperties(txn, req)
	now := time.Now().Unix()
	success := int32(state.ResultSuccess)
	add := &messages.AddBuild{
		Builderid: req.GetBuilderid(), Buildrequestid: req.GetId(), WorkerName: r.start.GetWorker(), Masterid: r.rt.MasterID,
		StartedAt: now, StateString: "building", Properties: r.props.list(), ClaimBrids: r.start.GetBrids(),
		Steps: []*messages.AddStep{{Name: "worker_preparation", StartedAt: now, Results: &success, CompleteAt: now}},
	}
	steps := r.cfg.GetSteps()
	if len(steps) > 0 {
		add.Steps = append(add.Steps, newStep(steps[0]))
	}
	res, err := r.call(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: add}})
	if err != nil {
		return 0, err // notStarted tells brd
	}
	r.system.Root.Send(r.brd, claimDone{builder: r.cfg.GetName(), worker: r.start.GetWorker(),
		brids: r.start.GetBrids()})
	r.buildid = res.GetId()
	if len(steps) > 0 {
		r.started = res.GetIds()[1:] // after worker_preparation's id (it has no logs)
	}
	r.props.set("buildnumber", strconv.Itoa(int(res.GetNumber())), "Build")
	r.logStarted(res.GetNumber())

	results := int32(state.ResultSuccess)
	terminate := false
	for _, step := range steps {
		if terminate && !step.GetAlwaysRun() {
			continue
		}
		sr, err := r.step(step)
		if err != nil {
			return 0, err
		}
		results, terminate = merge(results, terminate, sr, step)
	}
	return results, nil
}

func resultString(r int32) string {
	switch r {
	case state.ResultSuccess:
		return "build successful"
	case state.ResultWarnings:
		return "warnings"
	case state.ResultFailure:
		return "failed"
	case state.ResultSkipped:
		return "skipped"
	case state.ResultException:
		return "exception"
	case state.ResultRetry:
		return "retry"
	case state.ResultCancelled:
		return "cancelled"
	}
	return fmt.Sprintf("results %d", r)
}

// announce tells the scheduler manager of buildsets that completed (for
// dependent schedulers and waiting trigger steps).
func (r *runner) announce(bsids []uint64) {
	txn := r.rt.DB.Read()
	for _, id := range bsids {
		if bs, _ := state.Lookup(txn, state.TableBuildsets, id).(*messages.Buildset); bs != nil {
			r.system.Root.Send(actor.NewPID(r.self.Address, paths.Schedulers), &messages.BuildsetCompleted{
				Buildsetid: id, Results: bs.GetResults()})
		}
	}
}

// jsonString renders s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
