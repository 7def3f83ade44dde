package db

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// Timeout bounds how long a command may take to become durable.
const Timeout = time.Minute

// Request sends cmd to the db service from an actor; the future resolves to
// a messages.CommandResult or a messages.CommandFailed (see Result).
func Request(ctx actor.SenderContext, cmd *messages.Command) *actor.Future {
	return ctx.RequestFuture(PID(ctx.ActorSystem()), cmd, Timeout)
}

// Result turns what a Request's future gave into the command's result or
// an error; a refused command's error wraps state.ErrBadCommand.
func Result(res any, err error) (*messages.CommandResult, error) {
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	switch r := res.(type) {
	case *messages.CommandResult:
		return r, nil
	case *messages.CommandFailed:
		if r.GetBadCommand() {
			// The message starts with ErrBadCommand's own text.
			return nil, fmt.Errorf("%w%s", state.ErrBadCommand, strings.TrimPrefix(r.GetMessage(), state.ErrBadCommand.Error()))
		}
		return nil, errors.New(r.GetMessage())
	}
	return nil, fmt.Errorf("db: unexpected reply %T", res)
}

// Call submits cmd through the db service and waits: for goroutines, never
// for an actor's Receive.
func Call(system *actor.ActorSystem, cmd *messages.Command) (*messages.CommandResult, error) {
	return Result(Request(system.Root, cmd).Result())
}
