package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/messages"
)

// A command the state refuses comes back as an error with the
// INVALID_ARGUMENT code and the state's own message, through Call (from a
// goroutine) and Submit (from an actor) alike.
func TestCommandErrorsKeepTheirCode(t *testing.T) {
	m := mastertest.Start(t, "", "", nil)
	system := m.RT.System
	good := &messages.Command{Kind: &messages.Command_FindOrAddBuilder{FindOrAddBuilder: &messages.FindOrAddBuilder{Name: "b"}}}
	bad := &messages.Command{}

	if res, err := db.Call(context.Background(), system, good); err != nil || res.GetId() == 0 {
		t.Fatalf("Call(good) = %v, %v", res, err)
	}
	_, err := db.Call(context.Background(), system, bad)
	checkRefused(t, "Call", err)

	errs := make(chan error, 1)
	pid := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			db.Submit(ctx, bad, func(_ *messages.CommandResult, err error) { errs <- err })
		}
	}))
	defer system.Root.Stop(pid)
	checkRefused(t, "Submit", <-errs)
}

func checkRefused(t *testing.T, how string, err error) {
	t.Helper()
	if !errors.Is(err, ask.ErrInvalidArgument) || errors.Is(err, ask.ErrFailed) || !strings.HasPrefix(err.Error(), "bad command: ") {
		t.Fatalf("%s(bad) = %v, want an invalid argument saying what is bad", how, err)
	}
}
