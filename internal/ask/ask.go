// Package ask is the one way to ask an actor for something and have its
// answer: Ask for callers outside actors (goroutines, HTTP handlers, the
// command line), which waits; Async for an actor, which does not block its
// mailbox (it is built on ReenterAfter). Both give the answer as the type
// the caller expects, or an error:
//
//   - an *Error when the actor refused or failed to carry out the request
//     (it answered a messages.ControlError, the one error shape that crosses
//     actor boundaries); match its code with errors.Is(err, ErrInvalidArgument),
//     ErrFailed or ErrUnauthenticated;
//   - an error wrapping actor.ErrTimeout when no answer came in time,
//     actor.ErrDeadLetter when nothing was there to answer, or the cause of
//     Ask's context when it ended first;
//   - an error naming the type when the answer was of another type.
//
// The package knows no service: services import it, never the reverse.
// Actor addresses are in package paths.
package ask

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// DefaultTimeout bounds Ask's wait when its context has no deadline.
const DefaultTimeout = time.Minute

// Ask sends req to pid from sender and waits for the answer, for at most
// until ctx's deadline (DefaultTimeout when it has none), or until ctx ends.
// Never call it from an actor's Receive: use Async there.
func Ask[R proto.Message](ctx context.Context, sender actor.SenderContext, pid *actor.PID, req proto.Message) (R, error) {
	timeout := DefaultTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var zero R
	switch {
	case ctx.Err() != nil:
		return zero, ended(ctx)
	case timeout <= 0:
		return zero, fmt.Errorf("%w: %w", actor.ErrTimeout, context.DeadlineExceeded)
	}
	return Reply[R](Await(ctx, sender.RequestFuture(pid, req, timeout)))
}

// Async sends req to pid from the actor behind ctx and returns at once;
// then runs later in the actor, as its Receive does (it may use ctx and the
// actor's fields), with the answer or an error, at the latest after timeout.
func Async[R proto.Message](ctx actor.Context, pid *actor.PID, req proto.Message, timeout time.Duration, then func(R, error)) {
	f := ctx.RequestFuture(pid, req, timeout)
	ctx.ReenterAfter(f, func(res any, err error) { then(Reply[R](res, err)) })
}

// Reply turns what a request's future gave into the answer R or an error,
// as Ask does. Callers that hold a future of their own (a remote login, a
// stop) use it rather than reading the reply by hand.
func Reply[R proto.Message](res any, err error) (R, error) {
	var zero R
	if err != nil {
		return zero, err
	}
	// A ControlError is a proto.Message too: it is checked first, so that
	// it is an error even when R is an interface.
	if ce, ok := res.(*messages.ControlError); ok {
		return zero, FromProto(ce)
	}
	if r, ok := res.(R); ok {
		return r, nil
	}
	return zero, fmt.Errorf("unexpected reply %T", res)
}

// Await waits for f, or until ctx ends (then with ctx's cause, wrapping
// actor.ErrTimeout when it was the deadline), for callers outside actors
// that hold a future of their own (a stop). With a context that cannot end
// it just waits, without a goroutine.
func Await(ctx context.Context, f *actor.Future) (any, error) {
	if ctx.Done() == nil {
		return f.Result()
	}
	done := make(chan struct{})
	go func() {
		f.Wait()
		close(done)
	}()
	select {
	case <-done:
		return f.Result()
	case <-ctx.Done():
		// The future is left to its own timeout.
		return nil, ended(ctx)
	}
}

// ended is the error of a wait that ctx ended: its cause, which wraps
// actor.ErrTimeout too when it was the deadline.
func ended(ctx context.Context) error {
	err := context.Cause(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, actor.ErrTimeout) {
		return fmt.Errorf("%w: %w", actor.ErrTimeout, err)
	}
	return err
}
