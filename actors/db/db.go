// Package db is the `db` service (Buildbot's DBConnector): the only writer of
// the master's state, a state.Store (go-memdb made durable with raft), and
// of the build logs' contents, a logchunk.Store (compressed chunk files
// under DATA/logs); the master opens both before the tree starts (OpenLogs
// moves contents an earlier release kept in the state to files and
// recovers the files a crash left open) and closes them after it stops.
//
// It accepts messages.ApplyConfig, and messages.Command from the master's
// own actors: the command is submitted to the store without blocking the
// mailbox, and the sender is answered once it is durable and applied, with
// messages.CommandResult, or a messages.ControlError when it wrote nothing:
// INVALID_ARGUMENT for a command refused as bad (state.ErrBadCommand),
// FAILED when the store failed. Nothing from another process reaches it.
// Actors send commands with Submit, goroutines with Call.
//
// Its children:
//   - logs (the log writer) takes messages.LogWrite (WriteLog), the
//     contents of logs, and the commands that finish logs (FinishStep,
//     FinishBuild, FinishLog, and AppendLog from an older caller), which
//     the db service hands it: it writes the lines to the log's file, and
//     syncs the files of a step's logs before the command that finishes
//     the step is committed, with what they hold (LogLines) in place of
//     their contents. The state's log holds no log contents but the
//     small logs' records, which ride in that command instead of being
//     synced on their own (closeLogs, state.LogRecords). Each
//     write is announced (Runtime.LogAppended: logs/ID/append on the
//     event bus) as soon as readers can see its lines.
//   - janitor applies the horizons (config `horizons`) every interval, in
//     small writes, and takes messages.CleanupRequest (`buildmaster
//     cleanupdb`) from other processes.
//
// Readers do not come here: they take rt.DB.Read(), an immutable read
// transaction that never waits for writers, and rt.Logs.Read or Raw.
//
// While the store cannot write (state.Health), the db node of the tree
// shows it as its status, e.g. "degraded: disk full".
package db

import (
	"errors"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master. Its own part of the config is
// the horizons, which the janitor applies.
func Spec() service.Spec {
	return service.Spec{Name: paths.DBName, Kind: "db_connector",
		Part: func(c *messages.MasterConfig) proto.Message { return c.GetHorizons() },
		New: func(rt *service.Runtime, s service.Spec) actor.Actor {
			d := &dbService{Base: service.NewBase(rt, s)}
			d.OnConfig = d.horizons
			return d
		}}
}

// PID is the db service of the master in system.
func PID(system *actor.ActorSystem) *actor.PID { return actor.NewPID(system.Address(), paths.DB) }

type dbService struct {
	service.Base
	logs, janitor *actor.PID
}

// Receive implements actor.Actor.
func (d *dbService) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		d.spawn(ctx)
		d.showHealth(ctx)
		d.Base.Receive(ctx)
	case *messages.Command:
		if d.logs != nil && finishesLogs(m) {
			ctx.Forward(d.logs)
			return
		}
		submit(ctx, d.RT, m)
	case *messages.LogWrite:
		if d.logs == nil {
			service.Respond(ctx, failed("db: no log files"))
			return
		}
		ctx.Forward(d.logs)
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

// spawn starts the log writer and the janitor (when the master has log
// files: a store opened without them, as in some tests, keeps none).
func (d *dbService) spawn(ctx actor.Context) {
	if d.RT.Logs == nil || d.RT.DB == nil {
		return
	}
	var err error
	if d.logs, err = service.Spawn(ctx, d.RT, paths.LogsName, "log_writer", func() actor.Actor { return &logWriter{rt: d.RT} }); err != nil {
		panic(err)
	}
	if d.janitor, err = service.Spawn(ctx, d.RT, paths.JanitorName, "janitor", func() actor.Actor { return newJanitor(d.RT) }); err != nil {
		panic(err)
	}
}

// horizons shows the horizons on the service's node and tells the janitor
// they changed.
func (d *dbService) horizons(ctx actor.Context, cfg *messages.MasterConfig) {
	if n := service.NodeOf(ctx, d.RT); n != nil && cfg.GetHorizons() != nil {
		n.SetState(cfg.GetHorizons())
	}
	if d.janitor != nil {
		ctx.Send(d.janitor, horizonsChanged{})
	}
}

// finishesLogs reports whether cmd writes log contents or finishes logs,
// which the log writer must see first.
func finishesLogs(cmd *messages.Command) bool {
	switch cmd.GetKind().(type) {
	case *messages.Command_FinishStep, *messages.Command_FinishBuild, *messages.Command_FinishLog, *messages.Command_AppendLog:
		return true
	}
	return false
}

// submit submits cmd to the store and answers the sender of the message
// behind ctx once it is applied (see the package doc).
func submit(ctx actor.Context, rt *service.Runtime, cmd *messages.Command) {
	submitThen(rt, cmd, answer(ctx))
}

// answer returns what answers the sender of the message behind ctx, later,
// from any goroutine: the result, or the error as a ControlError.
func answer(ctx actor.Context) func(*messages.CommandResult, error) {
	sender, root := ctx.Sender(), ctx.ActorSystem().Root
	return func(res *messages.CommandResult, err error) {
		if sender == nil {
			return
		}
		if err != nil {
			root.Send(sender, controlError(err))
			return
		}
		root.Send(sender, res)
	}
}

// submitThen submits cmd to the store, counts and logs how it went, and
// calls then (from another goroutine) with the result.
func submitThen(rt *service.Runtime, cmd *messages.Command, then func(*messages.CommandResult, error)) {
	log, commands := rt.Log, rt.Stats.DBCommands
	if rt.DB == nil {
		then(nil, errNoStore)
		return
	}
	rt.DB.SubmitAsync(cmd, func(res *messages.CommandResult, err error) {
		if err != nil {
			bad := errors.Is(err, state.ErrBadCommand)
			if !bad {
				log.Error("db: command failed", slog.Any("error", err))
			}
			commands.WithLabelValues(map[bool]string{true: "refused", false: "failed"}[bad]).Inc()
		} else {
			commands.WithLabelValues("applied").Inc()
			if rt.Applied != nil {
				rt.Applied(cmd, res)
			}
		}
		then(res, err)
	})
}

var errNoStore = errors.New("db: no store")

// controlError is err as the ControlError that answers a command:
// INVALID_ARGUMENT when the state refused it as bad, else FAILED.
func controlError(err error) *messages.ControlError {
	if errors.Is(err, state.ErrBadCommand) {
		return &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT, Message: err.Error()}
	}
	return failed(err.Error())
}

func failed(msg string) *messages.ControlError {
	return &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED, Message: msg}
}
