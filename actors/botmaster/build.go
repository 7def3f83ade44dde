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
	"github.com/buildmaster/buildmaster/actors/pbmanager"
	"github.com/buildmaster/buildmaster/actors/service"
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
// When the build is over it has finished the build in the state, completed
// its requests (or, for RETRY, unclaimed them so they run again), told brd
// (messages.BuildFinished), and stopped itself. Stopped from outside (the
// master stopping), it writes nothing more: the next start's housekeeping
// ends the build RETRY and unclaims its requests.
type build struct {
	rt      *service.Runtime
	cfg     *messages.BuilderConfig
	start   *messages.StartBuild
	updates chan *messages.CommandUpdate
	events  chan proto.Message // Triggered, BuildsetCompleted: for a trigger step
	ctx     context.Context
	cancel  context.CancelCauseFunc
	stopped chan string // a StopBuild's reason
}

func newBuild(rt *service.Runtime, cfg *messages.BuilderConfig, start *messages.StartBuild) *build {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &build{rt: rt, cfg: cfg, start: start, updates: make(chan *messages.CommandUpdate, 1024),
		events: make(chan proto.Message, 64), ctx: ctx, cancel: cancel, stopped: make(chan string, 1)}
}

// errMasterStopping cancels a build whose actor is stopped from outside.
var errMasterStopping = errors.New("the master is stopping")

// Receive implements actor.Actor.
func (b *build) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r := &runner{build: b, system: ctx.ActorSystem(), self: ctx.Self(), log: b.rt.Log.With("builder", b.cfg.GetName())}
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
	system  *actor.ActorSystem
	self    *actor.PID
	log     *slog.Logger
	buildid uint64
	props   properties
	seq     int
	// stopReason is set once a StopBuild arrived: only always_run steps
	// still run.
	stopReason string
}

func (r *runner) call(cmd *messages.Command) (*messages.CommandResult, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, context.Cause(r.ctx)
	}
	return db.Call(r.system, cmd)
}

func (r *runner) run() {
	r.system.Root.Send(r.workerPID(), workerBuild{delta: 1})
	defer r.system.Root.Send(r.workerPID(), workerBuild{delta: -1})
	results, err := r.steps()
	switch {
	case errors.Is(context.Cause(r.ctx), errMasterStopping):
		return // housekeeping at the next start ends it RETRY
	case err != nil:
		r.log.Error("build failed to run", slog.Uint64("buildid", r.buildid), slog.Any("error", err))
		results = state.ResultException
	}
	// The build and its requests end together: completed with its results,
	// or, for RETRY, given back to run again.
	now := time.Now().Unix()
	var cmd *messages.Command
	if r.buildid != 0 {
		cmd = &messages.Command{Kind: &messages.Command_FinishBuild{FinishBuild: &messages.FinishBuild{
			Buildid: r.buildid, Results: results, CompleteAt: now, StateString: resultString(results), Brids: r.start.GetBrids()}}}
	} else if results == state.ResultRetry {
		cmd = &messages.Command{Kind: &messages.Command_UnclaimBuildRequests{UnclaimBuildRequests: &messages.UnclaimBuildRequests{
			Masterid: r.rt.MasterID, Brids: r.start.GetBrids()}}}
	} else {
		cmd = &messages.Command{Kind: &messages.Command_CompleteBuildRequests{CompleteBuildRequests: &messages.CompleteBuildRequests{
			Brids: r.start.GetBrids(), Results: results, CompleteAt: now}}}
	}
	if res, err := r.call(cmd); err != nil {
		r.log.Error("cannot finish the build and its requests", slog.Uint64("buildid", r.buildid), slog.Any("brids", r.start.GetBrids()),
			slog.Any("error", err))
	} else {
		r.announce(res.GetCompletedBuildsets())
	}
	r.log.Info("build finished", slog.Uint64("buildid", r.buildid), slog.String("worker", r.start.GetWorker()),
		slog.String("results", resultString(results)))
	r.system.Root.Send(actor.NewPID(r.self.Address, BRDPath), &messages.BuildFinished{Builder: r.cfg.GetName(),
		Worker: r.start.GetWorker(), Buildid: r.buildid, Results: results})
	r.system.Root.Stop(r.self)
}

// steps adds the build and runs its steps; it returns the build's results.
func (r *runner) steps() (int32, error) {
	txn := r.rt.DB.Read()
	req, _ := state.Lookup(txn, state.TableBuildRequests, r.start.GetBrids()[0]).(*messages.BuildRequest)
	if req == nil {
		return 0, fmt.Errorf("build request %d does not exist", r.start.GetBrids()[0])
	}
	r.props = r.initialProperties(txn, req)
	res, err := r.call(&messages.Command{Kind: &messages.Command_AddBuild{AddBuild: &messages.AddBuild{
		Builderid: req.GetBuilderid(), Buildrequestid: req.GetId(), WorkerName: r.start.GetWorker(), Masterid: r.rt.MasterID,
		StartedAt: time.Now().Unix(), StateString: "building", Properties: r.props.list()}}})
	if err != nil {
		return 0, err
	}
	r.buildid = res.GetId()
	r.props.set("buildnumber", strconv.Itoa(int(res.GetNumber())), "Build")
	r.log.Info("build started", slog.Uint64("buildid", r.buildid), slog.Int("number", int(res.GetNumber())),
		slog.String("worker", r.start.GetWorker()))

	// The worker's builder directory (Buildbot's worker_preparation).
	c, _, err := r.command(nil, &messages.StartCommand{Command: &messages.StartCommand_Mkdir{Mkdir: &messages.PathsCommand{
		Paths: []string{r.workdir("")}}}})
	if err != nil {
		return 0, err
	}
	if res := commandResults(c); res != state.ResultSuccess {
		r.log.Warn("cannot prepare the worker", slog.Uint64("buildid", r.buildid), slog.String("error", c.GetError()))
		if res != state.ResultRetry {
			res = state.ResultException
		}
		return res, nil
	}
	results := int32(state.ResultSuccess)
	terminate := false
	for _, step := range r.cfg.GetSteps() {
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

// merge adds a step's results to the build's, as Buildbot's
// computeResultAndTermination: a FAILURE counts as WARNINGS with
// warn_on_failure (and not flunk_on_failure), else as FAILURE, and stops
// the build with halt_on_failure; EXCEPTION, RETRY and CANCELLED always
// stop it.
func merge(build int32, terminate bool, step int32, cfg *messages.StepConfig) (int32, bool) {
	switch step {
	case state.ResultFailure:
		if cfg.GetWarnOnFailure() && !cfg.GetFlunkOnFailure() {
			step = state.ResultWarnings
		}
		terminate = terminate || cfg.GetHaltOnFailure()
	case state.ResultException, state.ResultRetry, state.ResultCancelled:
		terminate = true
	}
	return state.Worst(build, step), terminate
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
			r.system.Root.Send(actor.NewPID(r.self.Address, SchedulersPath), &messages.BuildsetCompleted{
				Buildsetid: id, Results: bs.GetResults()})
		}
	}
}

// SchedulersPath is the scheduler manager.
const SchedulersPath = "master/scheduler_manager"

// workerPID is the actor of the build's worker.
func (r *runner) workerPID() *actor.PID {
	return actor.NewPID(r.self.Address, pbmanager.WorkerPath(r.start.GetWorker()))
}

// jsonString renders s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
