// Package schedulers is the `scheduler_manager` service (Buildbot's
// SchedulerManager): the parent of every configured scheduler, one child per
// scheduler named by its config.
//
// It accepts messages.ApplyConfig (schedulers diffed by name; unlike
// Buildbot, which replaces a changed scheduler, a scheduler actor accepts
// its new messages.SchedulerConfig in place, unless its type changed: then,
// as in Buildbot, the old one is stopped, its timers with it, and a new one
// started), and, from other processes
// too, messages.ForceBuildRequest (Buildbot's ForceScheduler, as
// `buildmaster force`): with the admin token, through an enabled force
// scheduler that lists the builder, a buildset is added and the distributor
// woken; the answer, messages.ForceBuildResponse, comes once the buildset is
// durable. Likewise, with the admin token (control.go):
// messages.RebuildRequest, messages.CancelBuildRequestRequest and
// messages.EnableSchedulerRequest (a disabled scheduler adds no buildsets).
// From the master's own actors it accepts messages.ChangeAdded,
// messages.BuildsetAdded and messages.BuildsetCompleted, passed to every
// scheduler (see schedulerActor for what each kind does with them), and
// messages.TriggerBuilds, handed to the triggerable scheduler it names.
package schedulers

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{
		Name: paths.SchedulersName, Kind: "scheduler_manager",
		Groups: func() []service.Group {
			return []service.Group{&service.NamedGroup[*messages.SchedulerConfig]{Kind: "scheduler",
				List: (*messages.MasterConfig).GetSchedulers, Name: (*messages.SchedulerConfig).GetName, New: newScheduler,
				Class: func(c *messages.SchedulerConfig) string { return c.GetType().String() }}}
		},
		New: func(rt *service.Runtime, s service.Spec) actor.Actor {
			return &manager{Base: service.NewBase(rt, s), now: time.Now}
		},
	}
}

type manager struct {
	service.Base
	now func() time.Time
}

// Receive implements actor.Actor.
func (m *manager) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *messages.ForceBuildRequest:
		if service.Authorized(ctx, m.RT, msg.GetToken()) {
			m.force(ctx, msg)
		}
	case *messages.RebuildRequest:
		if service.Authorized(ctx, m.RT, msg.GetToken()) {
			m.rebuild(ctx, msg)
		}
	case *messages.CancelBuildRequestRequest:
		if service.Authorized(ctx, m.RT, msg.GetToken()) {
			m.cancel(ctx, msg)
		}
	case *messages.EnableSchedulerRequest:
		if service.Authorized(ctx, m.RT, msg.GetToken()) {
			m.enable(ctx, msg)
		}
	case *messages.ChangeAdded, *messages.BuildsetAdded, *messages.BuildsetCompleted:
		for _, child := range ctx.Children() {
			ctx.Send(child, msg.(proto.Message))
		}
	case *messages.TriggerBuilds:
		m.trigger(ctx, msg)
	default:
		m.Base.Receive(ctx)
	}
}

// forceScheduler finds the force scheduler for a request: the named one,
// which must list the builder, or the first that does.
func forceScheduler(cfg *messages.MasterConfig, req *messages.ForceBuildRequest) (*messages.SchedulerConfig, error) {
	for _, s := range cfg.GetSchedulers() {
		if s.GetType() != messages.SchedulerType_SCHEDULER_TYPE_FORCE || (req.GetScheduler() != "" && s.GetName() != req.GetScheduler()) {
			continue
		}
		if slices.Contains(s.GetBuilders(), req.GetBuilder()) {
			return s, nil
		}
		if req.GetScheduler() != "" {
			return nil, fmt.Errorf("force scheduler %q does not list builder %q (it lists %v)", s.GetName(), req.GetBuilder(), s.GetBuilders())
		}
	}
	if req.GetScheduler() != "" {
		return nil, fmt.Errorf("there is no force scheduler named %q", req.GetScheduler())
	}
	return nil, fmt.Errorf("no force scheduler lists builder %q (add one: schedulers: [{name: force, type: force, builders: [%s]}])",
		req.GetBuilder(), req.GetBuilder())
}

func (m *manager) force(ctx actor.Context, req *messages.ForceBuildRequest) {
	from := service.From(ctx)
	sched, err := forceScheduler(m.RT.Config(), req)
	if err == nil && !state.SchedulerEnabled(m.RT.DB.Read(), sched.GetName()) {
		err = fmt.Errorf("force scheduler %s is disabled (enable it on /schedulers)", sched.GetName())
	}
	if err != nil {
		service.Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT,
			Message: "force: " + err.Error()})
		return
	}
	owner := req.GetOwner()
	if owner == "" {
		owner = "user"
	}
	var props []*messages.Property
	add := func(name, value, source string) {
		v, _ := json.Marshal(value)
		props = slices.DeleteFunc(props, func(p *messages.Property) bool { return p.GetName() == name })
		props = append(props, &messages.Property{Name: name, ValueJson: string(v), Source: source})
	}
	for _, k := range sortedKeys(sched.GetProperties()) {
		add(k, sched.GetProperties()[k], "Scheduler")
	}
	add("scheduler", sched.GetName(), "Scheduler")
	add("reason", req.GetReason(), "Force Build Form")
	add("owner", owner, "Force Build Form")
	for _, k := range sortedKeys(req.GetProperties()) {
		add(k, req.GetProperties()[k], "Force Build Form")
	}
	reason := fmt.Sprintf("A build was forced by '%s': %s", owner, req.GetReason())
	cmd := &messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
		Reason: reason, SubmittedAt: m.now().Unix(), Properties: props, BuilderNames: []string{req.GetBuilder()},
		CollapseBuilderNames: collapseNames(m.RT.Config(), []string{req.GetBuilder()}),
		Sourcestamps: []*messages.SourceStamp{{Branch: req.GetBranch(), Revision: req.GetRevision(),
			Repository: req.GetRepository(), Project: req.GetProject(), Codebase: req.GetCodebase()}},
	}}}
	sender := ctx.Sender()
	db.Submit(ctx, cmd, func(r *messages.CommandResult, err error) {
		if err != nil {
			m.RT.Log.Warn("force: buildset not added", slog.String("builder", req.GetBuilder()), slog.String("from", from), slog.Any("error", err))
			service.Send(ctx, sender, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED,
				Message: "force: " + err.Error()})
			return
		}
		m.RT.Log.Info("added buildset", slog.Uint64("buildsetid", r.GetId()), slog.String("scheduler", sched.GetName()),
			slog.String("builder", req.GetBuilder()), slog.String("from", from))
		added, _ := state.Lookup(m.RT.DB.Read(), state.TableBuildsets, r.GetId()).(*messages.Buildset)
		for _, child := range ctx.Children() {
			ctx.Send(child, &messages.BuildsetAdded{Buildsetid: r.GetId(), Scheduler: sched.GetName(), SourcestampIds: added.GetSourcestampIds()})
		}
		completed(ctx, ctx.Self(), m.RT, r)
		ctx.Send(actor.NewPID(ctx.Self().Address, paths.BRD), &messages.MaybeStartBuilds{Builders: []string{req.GetBuilder()}})
		service.Send(ctx, sender, &messages.ForceBuildResponse{Buildsetid: r.GetId(), Brids: r.GetIds(), Scheduler: sched.GetName()})
	})
}

// trigger hands a trigger step's request to the triggerable scheduler it
// names, which answers the step.
func (m *manager) trigger(ctx actor.Context, req *messages.TriggerBuilds) {
	for _, s := range m.RT.Config().GetSchedulers() {
		if s.GetName() != req.GetScheduler() {
			continue
		}
		if s.GetType() != messages.SchedulerType_SCHEDULER_TYPE_TRIGGERABLE {
			break
		}
		ctx.RequestWithCustomSender(actor.NewPID(ctx.Self().Address, paths.Scheduler(s.GetName())), req, ctx.Sender())
		return
	}
	service.Respond(ctx, &messages.Triggered{Error: fmt.Sprintf("there is no triggerable scheduler named %q", req.GetScheduler())})
}

// collapseNames lists the builders among names whose queued requests
// collapse: each builder's collapse_requests, else the master's, else true
// (as Buildbot's collapseRequests).
func collapseNames(cfg *messages.MasterConfig, names []string) []string {
	var out []string
	for _, n := range names {
		on := true
		if cfg.CollapseRequests != nil {
			on = cfg.GetCollapseRequests()
		}
		for _, b := range cfg.GetBuilders() {
			if b.GetName() == n && b.CollapseRequests != nil {
				on = b.GetCollapseRequests()
			}
		}
		if on {
			out = append(out, n)
		}
	}
	return out
}

// completed tells the schedulers of buildsets that completed on their own
// (every request collapsed into a newer one).
func completed(ctx actor.Context, to *actor.PID, rt *service.Runtime, r *messages.CommandResult) {
	txn := rt.DB.Read()
	for _, id := range r.GetCompletedBuildsets() {
		bs, _ := state.Lookup(txn, state.TableBuildsets, id).(*messages.Buildset)
		ctx.Send(to, &messages.BuildsetCompleted{Buildsetid: id, Results: bs.GetResults()})
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
