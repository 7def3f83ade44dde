// Package db is the `db` service (Buildbot's DBConnector): the only writer of
// the master's state, a state.Store (go-memdb made durable with raft) that
// the master opens before the tree starts and closes after it stops.
//
// It accepts messages.ApplyConfig, and messages.Command from the master's
// own actors: the command is submitted to the store without blocking the
// mailbox, and the sender is answered once it is durable and applied, with
// messages.CommandResult, or a messages.ControlError when it wrote nothing:
// INVALID_ARGUMENT for a command refused as bad (state.ErrBadCommand),
// FAILED when the store failed. Nothing from another process reaches it.
// Actors send commands with Submit, goroutines with Call.
//
// Readers do not come here: they take rt.DB.Read(), an immutable read
// transaction that never waits for writers.
//
// While the store cannot write (state.Health), the db node of the tree
// shows it as its status, e.g. "degraded: disk full".
package db

import (
	"errors"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{Name: paths.DBName, Kind: "db_connector", New: func(rt *service.Runtime, s service.Spec) actor.Actor {
		return &dbService{Base: service.NewBase(rt, s)}
	}}
}

// PID is the db service of the master in system.
func PID(system *actor.ActorSystem) *actor.PID { return actor.NewPID(system.Address(), paths.DB) }

type dbService struct{ service.Base }

// Receive implements actor.Actor.
func (d *dbService) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.Command:
		d.submit(ctx, m)
	case *actor.Started:
		d.showHealth(ctx)
		d.Base.Receive(ctx)
	default:
		d.Base.Receive(ctx)
	}
}

// showHealth makes the db node of the tree show the store's health while
// it is degraded ("degraded: disk full") instead of "running".
func (d *dbService) showHealth(ctx actor.Context) {
	store, node := d.RT.DB, d.RT.Tree.Lookup(ctx.Self().Id)
	if store == nil || node == nil {
		return
	}
	node.SetCondition(func() string {
		if h := store.Health(); h.Degraded() {
			return h.String()
		}
		return ""
	})
}

func (d *dbService) submit(ctx actor.Context, cmd *messages.Command) {
	sender, root, log, commands, applied := ctx.Sender(), ctx.ActorSystem().Root, d.RT.Log, d.RT.Stats.DBCommands, d.RT.Applied
	if d.RT.DB == nil {
		service.Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED, Message: "db: no store"})
		return
	}
	d.RT.DB.SubmitAsync(cmd, func(res *messages.CommandResult, err error) {
		if err != nil {
			bad := errors.Is(err, state.ErrBadCommand)
			if !bad {
				log.Error("db: command failed", slog.Any("error", err))
			}
			commands.WithLabelValues(map[bool]string{true: "refused", false: "failed"}[bad]).Inc()
			if sender != nil {
				code := messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED
				if bad {
					code = messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT
				}
				root.Send(sender, &messages.ControlError{Code: code, Message: err.Error()})
			}
			return
		}
		commands.WithLabelValues("applied").Inc()
		if applied != nil {
			applied(cmd, res)
		}
		if sender != nil {
			root.Send(sender, res)
		}
	})
}
