package ask_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/messages"
)

func newSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	t.Cleanup(system.Shutdown)
	return system
}

// responder answers a SendChangeRequest by its change's branch: "ok" a
// SendChangeResponse, "bad" an invalid argument, "down" a failure, "tree"
// an answer of another type, anything else nothing at all.
func responder(ctx actor.Context) {
	req, ok := ctx.Message().(*messages.SendChangeRequest)
	if !ok {
		return
	}
	switch req.GetChange().GetBranch() {
	case "ok":
		ctx.Respond(&messages.SendChangeResponse{Changeid: 7})
	case "bad":
		ctx.Respond((&ask.Error{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT, Message: "bad command: no author"}).Proto())
	case "down":
		ctx.Respond(&messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_FAILED, Message: "db: no store"})
	case "tree":
		ctx.Respond(&messages.GetTreeResponse{})
	}
}

func request(branch string) *messages.SendChangeRequest {
	return &messages.SendChangeRequest{Change: &messages.Change{Branch: branch}}
}

func TestAsk(t *testing.T) {
	system := newSystem(t)
	pid := system.Root.Spawn(actor.PropsFromFunc(responder))
	for _, tc := range []struct {
		branch  string
		want    uint64
		is, not error
		msg     string
	}{
		{branch: "ok", want: 7},
		{branch: "bad", is: ask.ErrInvalidArgument, not: ask.ErrFailed, msg: "bad command: no author"},
		{branch: "down", is: ask.ErrFailed, not: ask.ErrInvalidArgument, msg: "db: no store"},
		{branch: "tree", msg: "unexpected reply *messages.GetTreeResponse"},
	} {
		t.Run(tc.branch, func(t *testing.T) {
			res, err := ask.Ask[*messages.SendChangeResponse](context.Background(), system.Root, pid, request(tc.branch))
			if tc.msg == "" {
				if err != nil || res.GetChangeid() != tc.want {
					t.Fatalf("Ask = %v, %v; want changeid %d", res, err, tc.want)
				}
				return
			}
			if err == nil || err.Error() != tc.msg || res != nil {
				t.Fatalf("Ask = %v, %v; want the error %q", res, err, tc.msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if tc.not != nil && errors.Is(err, tc.not) {
				t.Fatalf("errors.Is(%v, %v) = true", err, tc.not)
			}
		})
	}
}

// An answer the caller takes as any proto.Message is still an error when
// it is a ControlError.
func TestAskInterfaceTypeKeepsErrors(t *testing.T) {
	system := newSystem(t)
	pid := system.Root.Spawn(actor.PropsFromFunc(responder))
	if _, err := ask.Ask[proto.Message](context.Background(), system.Root, pid, request("bad")); !errors.Is(err, ask.ErrInvalidArgument) {
		t.Fatalf("err = %v, want an invalid argument", err)
	}
}

func TestAskEndsWithItsContext(t *testing.T) {
	system := newSystem(t)
	silent := system.Root.Spawn(actor.PropsFromFunc(responder))

	deadline, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := ask.Ask[*messages.SendChangeResponse](deadline, system.Root, silent, request("never"))
	if !errors.Is(err, actor.ErrTimeout) {
		t.Fatalf("past the deadline: err = %v, want actor.ErrTimeout", err)
	}

	lost := errors.New("lost the connection")
	ctx, stop := context.WithCancelCause(context.Background())
	go stop(lost)
	if _, err := ask.Ask[*messages.SendChangeResponse](ctx, system.Root, silent, request("never")); !errors.Is(err, lost) {
		t.Fatalf("cancelled: err = %v, want its cause", err)
	}
	if _, err := ask.Ask[*messages.SendChangeResponse](ctx, system.Root, silent, request("ok")); !errors.Is(err, lost) {
		t.Fatalf("already cancelled: err = %v, want its cause", err)
	}
}

func TestAskNobodyThere(t *testing.T) {
	system := newSystem(t)
	_, err := ask.Ask[*messages.SendChangeResponse](context.Background(), system.Root, system.NewLocalPID("master/nobody"), request("ok"))
	if !errors.Is(err, actor.ErrDeadLetter) {
		t.Fatalf("err = %v, want actor.ErrDeadLetter", err)
	}
}

// asker asks pid from inside an actor, and reports what its continuation
// got on results.
type asker struct {
	pid     *actor.PID
	timeout time.Duration
	results chan<- string
}

func (a *asker) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*messages.SendChangeRequest); ok {
		ask.Async(ctx, a.pid, m, a.timeout, func(res *messages.SendChangeResponse, err error) {
			switch {
			case errors.Is(err, ask.ErrInvalidArgument):
				a.results <- "invalid: " + err.Error()
			case errors.Is(err, actor.ErrTimeout):
				a.results <- "timeout"
			case err != nil:
				a.results <- "error: " + err.Error()
			default:
				a.results <- fmt.Sprintf("changeid %d", res.GetChangeid())
			}
		})
	}
}

func TestAsync(t *testing.T) {
	system := newSystem(t)
	results := make(chan string, 1)
	a := &asker{pid: system.Root.Spawn(actor.PropsFromFunc(responder)), timeout: time.Minute, results: results}
	pid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))
	for branch, want := range map[string]string{
		"ok": "changeid 7", "bad": "invalid: bad command: no author", "tree": "error: unexpected reply *messages.GetTreeResponse",
	} {
		system.Root.Send(pid, request(branch))
		if got := <-results; got != want {
			t.Errorf("%s: continuation got %q, want %q", branch, got, want)
		}
	}
	a.timeout = time.Millisecond
	system.Root.Send(pid, request("never"))
	if got := <-results; got != "timeout" {
		t.Errorf("no answer: continuation got %q, want timeout", got)
	}
}

// While an actor waits for an answer, its mailbox goes on.
func TestAsyncDoesNotBlockTheMailbox(t *testing.T) {
	system := newSystem(t)
	held := make(chan *actor.PID, 1)
	holder := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*messages.SendChangeRequest); ok {
			if req.GetChange().GetBranch() == "hold" {
				held <- ctx.Sender()
				return
			}
			responder(ctx)
		}
	}))
	results := make(chan string, 2)
	pid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &asker{pid: holder, timeout: time.Minute, results: results}
	}))
	system.Root.Send(pid, request("hold"))
	answer := <-held
	system.Root.Send(pid, request("ok"))
	if got := <-results; got != "changeid 7" {
		t.Fatalf("the second question got %q first", got)
	}
	system.Root.Send(answer, &messages.SendChangeResponse{Changeid: 8})
	if got := <-results; got != "changeid 8" {
		t.Fatalf("the held question got %q", got)
	}
}

func TestErrorIs(t *testing.T) {
	bad := &ask.Error{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT, Message: "no author"}
	for _, tc := range []struct {
		target error
		want   bool
	}{
		{ask.ErrInvalidArgument, true},
		{&ask.Error{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT, Message: "no author"}, true},
		{&ask.Error{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT, Message: "no branch"}, false},
		{ask.ErrFailed, false},
		{ask.ErrUnauthenticated, false},
		{errors.New("no author"), false},
	} {
		if got := errors.Is(bad, tc.target); got != tc.want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", bad, tc.target, got, tc.want)
		}
	}
	if got := ask.ErrUnauthenticated.Error(); got != "unauthenticated" {
		t.Errorf("an error without a message reads %q", got)
	}
	if ce := bad.Proto(); ask.FromProto(ce).Code != bad.Code || ce.GetMessage() != "no author" {
		t.Errorf("round trip through the message: %v", ce)
	}
}
