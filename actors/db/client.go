package db

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/messages"
)

// Timeout bounds how long a command may take to become durable: Submit's
// wait, and Call's (ask.DefaultTimeout, the same, when ctx has no deadline).
const Timeout = ask.DefaultTimeout

// Submit sends cmd to the db service from the actor behind ctx, without
// blocking its mailbox; then runs in the actor with the command's result,
// or an error: one matching ask.ErrInvalidArgument when the command was
// refused as bad (state.ErrBadCommand: nothing was written), ask.ErrFailed
// when the store failed, or actor.ErrTimeout.
func Submit(ctx actor.Context, cmd *messages.Command, then func(*messages.CommandResult, error)) {
	ask.Async(ctx, PID(ctx.ActorSystem()), cmd, Timeout, then)
}

// Call submits cmd through the db service and waits, with the same results
// as Submit: for goroutines, never for an actor's Receive.
func Call(ctx context.Context, system *actor.ActorSystem, cmd *messages.Command) (*messages.CommandResult, error) {
	return ask.Ask[*messages.CommandResult](ctx, system.Root, PID(system), cmd)
}

// WriteLog adds content (lines in the form of Buildbot's logchunks, see
// messages.LogWrite) to open log logid's file through the db service, and
// waits: for goroutines, never for an actor's Receive. It returns the
// numbers of the lines added.
func WriteLog(ctx context.Context, system *actor.ActorSystem, logid uint64, content []byte) (*messages.LogWritten, error) {
	return ask.Ask[*messages.LogWritten](ctx, system.Root, PID(system), &messages.LogWrite{Logid: logid, Content: content})
}
