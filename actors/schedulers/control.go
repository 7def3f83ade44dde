package schedulers

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The operator's requests the manager carries out besides force: rebuild
// a build, cancel a build request that has not started, enable or disable
// a scheduler. Each is refused on its merits with an INVALID_ARGUMENT
// ControlError naming what is wrong, and answered once its write is
// durable.

func refuse(ctx actor.Context, format string, args ...any) {
	service.Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT,
		Message: fmt.Sprintf(format, args...)})
}

// submit writes cmd, answers ok's reply once it is durable (or the
// failure), and logs what was done.
func (m *manager) submit(ctx actor.Context, what string, cmd *messages.Command, ok func(*messages.CommandResult) proto.Message) {
	sender, from := ctx.Sender(), service.From(ctx)
	db.Submit(ctx, cmd, func(r *messages.CommandResult, err error) {
		if err != nil {
			m.RT.Log.Warn(what+": not done", slog.String("from", from), slog.Any("error", err))
			code := messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED
			if errors.Is(err, ask.ErrInvalidArgument) {
				code = messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT
			}
			service.Send(ctx, sender, &messages.ControlError{Code: code, Message: what + ": " + err.Error()})
			return
		}
		m.RT.Log.Info(what, slog.String("from", from), slog.Uint64("id", r.GetId()), slog.Any("ids", r.GetIds()))
		service.Send(ctx, sender, ok(r))
	})
}

// rebuild submits the buildset of a build again for its builder, with its
// sourcestamps and properties (Buildbot's rebuild).
func (m *manager) rebuild(ctx actor.Context, req *messages.RebuildRequest) {
	txn := m.RT.DB.Read()
	build, builder, err := state.BuildByRef(txn, req.GetBuildid(), req.GetBuilder(), req.GetNumber())
	if err != nil {
		refuse(ctx, "rebuild: %v", err)
		return
	}
	br, _ := state.Lookup(txn, state.TableBuildRequests, build.GetBuildrequestid()).(*messages.BuildRequest)
	bs, _ := state.Lookup(txn, state.TableBuildsets, br.GetBuildsetid()).(*messages.Buildset)
	if bs == nil {
		refuse(ctx, "rebuild: build %s #%d has no buildset", builder, build.GetNumber())
		return
	}
	if !slices.ContainsFunc(m.RT.Config().GetBuilders(), func(b *messages.BuilderConfig) bool { return b.GetName() == builder }) {
		refuse(ctx, "rebuild: builder %s is no longer configured", builder)
		return
	}
	reason := fmt.Sprintf("rebuild of build %s #%d", builder, build.GetNumber())
	if req.GetReason() != "" {
		reason += ": " + req.GetReason()
	}
	cmd := &messages.Command{Kind: &messages.Command_AddBuildset{AddBuildset: &messages.AddBuildset{
		Reason: reason, SubmittedAt: m.now().Unix(), Properties: bs.GetProperties(), SourcestampIds: bs.GetSourcestampIds(),
		BuilderNames: []string{builder}, CollapseBuilderNames: collapseNames(m.RT.Config(), []string{builder}),
	}}}
	m.submit(ctx, "rebuild", cmd, func(r *messages.CommandResult) proto.Message {
		completed(ctx, ctx.Self(), m.RT, r)
		ctx.Send(actor.NewPID(ctx.Self().Address, paths.BRD), &messages.MaybeStartBuilds{Builders: []string{builder}})
		return &messages.RebuildResponse{Buildsetid: r.GetId(), Brids: r.GetIds()}
	})
}

// cancel completes a build request that has not started as CANCELLED; the
// state refuses it if the distributor has claimed it meanwhile.
func (m *manager) cancel(ctx actor.Context, req *messages.CancelBuildRequestRequest) {
	br, _ := state.Lookup(m.RT.DB.Read(), state.TableBuildRequests, req.GetBrid()).(*messages.BuildRequest)
	switch {
	case br == nil:
		refuse(ctx, "cancel: there is no build request %d", req.GetBrid())
		return
	case br.GetComplete():
		refuse(ctx, "cancel: build request %d is already complete", req.GetBrid())
		return
	case br.GetClaim() != nil:
		refuse(ctx, "cancel: build request %d has started; stop its build instead", req.GetBrid())
		return
	}
	cmd := &messages.Command{Kind: &messages.Command_CompleteBuildRequests{CompleteBuildRequests: &messages.CompleteBuildRequests{
		Brids: []uint64{req.GetBrid()}, Results: state.ResultCancelled, CompleteAt: m.now().Unix(), UnclaimedOnly: true}}}
	m.submit(ctx, "cancel build request", cmd, func(r *messages.CommandResult) proto.Message {
		completed(ctx, ctx.Self(), m.RT, r)
		return &messages.CancelBuildRequestResponse{Brid: req.GetBrid(), Builderid: br.GetBuilderid()}
	})
}

// enable enables or disables a configured scheduler.
func (m *manager) enable(ctx actor.Context, req *messages.EnableSchedulerRequest) {
	if !slices.ContainsFunc(m.RT.Config().GetSchedulers(), func(s *messages.SchedulerConfig) bool { return s.GetName() == req.GetScheduler() }) {
		refuse(ctx, "enable: there is no scheduler %q", req.GetScheduler())
		return
	}
	cmd := &messages.Command{Kind: &messages.Command_SetSchedulerEnabled{SetSchedulerEnabled: &messages.SetSchedulerEnabled{
		Name: req.GetScheduler(), Enabled: req.GetEnabled()}}}
	m.submit(ctx, "enable scheduler", cmd, func(*messages.CommandResult) proto.Message {
		return &messages.EnableSchedulerResponse{Enabled: req.GetEnabled()}
	})
}
