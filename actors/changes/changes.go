// Package changes is the `change_svc` service (Buildbot's ChangeManager): the
// parent of every configured change source, one child per source named by
// its config, and the door through which changes enter the master.
//
// It accepts messages.ApplyConfig (change sources diffed by name; a change
// source actor accepts its new messages.ChangeSourceConfig in place), and,
// from other processes too, messages.SendChangeRequest (Buildbot's
// `sendchange`): with the admin token, the change is handed to the db service
// as an AddChange command and answered messages.SendChangeResponse once it
// is durable; a bad change gets a messages.ControlError and writes nothing.
// From the master's own actors (change sources, the change hook) it accepts
// messages.AddChange, answered the same way; its state, when set (a change
// source's record of what it has reported), is written in the same command
// as the change, so that both are durable or neither is.
//
// Every change added is then announced to the scheduler manager with
// messages.ChangeAdded (Buildbot's ('changes', id, 'new') event).
package changes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{
		Name: paths.ChangesName, Kind: "change_manager",
		Groups: func() []service.Group {
			return []service.Group{&service.NamedGroup[*messages.ChangeSourceConfig]{Kind: "change_source",
				List: (*messages.MasterConfig).GetChangeSources, Name: (*messages.ChangeSourceConfig).GetName,
				New: newChangeSource}}
		},
		New: func(rt *service.Runtime, s service.Spec) actor.Actor {
			return &changeService{Base: service.NewBase(rt, s), now: time.Now}
		},
	}
}

type changeService struct {
	service.Base
	now func() time.Time
}

// Receive implements actor.Actor.
func (c *changeService) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.SendChangeRequest:
		if service.Authorized(ctx, c.RT, m.GetToken()) {
			c.sendChange(ctx, m.GetChange(), nil, "")
		}
	case *messages.AddChange:
		c.sendChange(ctx, m.GetChange(), m.GetState(), m.GetAuthorVc())
	default:
		c.Base.Receive(ctx)
	}
}

// sendChange adds the request's change (its properties' source: Change),
// and st with it when not nil, through the db service in one command, and
// answers once it is durable, without blocking the mailbox meanwhile. vc,
// when set, attaches the change's author to a user (AddChange.author_vc).
func (c *changeService) sendChange(ctx actor.Context, in *messages.Change, st *messages.SetObjectState, vc string) {
	from := service.From(ctx)
	if in == nil {
		service.Respond(ctx, invalid("sendchange: the request carries no change"))
		return
	}
	change := proto.Clone(in).(*messages.Change)
	for _, p := range change.Properties {
		p.Source = "Change" // as Buildbot's addChange, whatever the sender said
	}
	if change.WhenTimestamp == 0 {
		change.WhenTimestamp = c.now().Unix()
	}
	sender := ctx.Sender()
	cmd := &messages.Command{Kind: &messages.Command_AddChange{AddChange: &messages.AddChange{Change: change, State: st, AuthorVc: vc}}}
	db.Submit(ctx, cmd, func(r *messages.CommandResult, err error) {
		var reply proto.Message
		var refused *ask.Error
		switch {
		case err == nil:
			c.RT.Log.Info("change added", slog.Uint64("changeid", r.GetId()), slog.String("from", from),
				slog.String("branch", change.GetBranch()), slog.String("revision", change.GetRevision()))
			reply = &messages.SendChangeResponse{Changeid: r.GetId()}
			added := proto.CloneOf(change)
			added.Changeid, added.Sourcestampid = r.GetId(), r.GetSourcestampid()
			ctx.Send(actor.NewPID(ctx.Self().Address, paths.Schedulers), &messages.ChangeAdded{Change: added})
		case errors.As(err, &refused):
			c.RT.Log.Warn("change refused", slog.String("from", from), slog.String("error", refused.Message))
			reply = refused.Proto()
		default:
			c.RT.Log.Error("change not added: the db service did not answer", slog.String("from", from), slog.Any("error", err))
			reply = &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED,
				Message: fmt.Sprintf("sendchange: the db service did not answer: %v", err)}
		}
		service.Send(ctx, sender, reply)
	})
}

// addChange hands add to change_svc from a goroutine and waits until it is
// durable (or ctx ends): the change's id, or an error, which matches
// ask.ErrInvalidArgument when the change was refused as invalid (nothing
// was written).
func addChange(ctx context.Context, system *actor.ActorSystem, add *messages.AddChange) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, db.Timeout+5*time.Second)
	defer cancel()
	res, err := ask.Ask[*messages.SendChangeResponse](ctx, system.Root, actor.NewPID(system.Address(), paths.Changes), add)
	return res.GetChangeid(), err
}

func invalid(msg string) *messages.ControlError {
	return &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT, Message: msg}
}
