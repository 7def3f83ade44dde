package service

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/auth/authz"
	"github.com/buildmaster/buildmaster/internal/control"
	"github.com/buildmaster/buildmaster/messages"
)

// Authorized reports whether a control request's token is the admin token,
// or a user's API token whose holder the authz rules (www.authz) allow the
// request (ControlRequest). When it is neither, it logs the refusal (never
// the token) within the budget of the request's source (refused) and
// answers the sender a messages.ControlError.
func Authorized(ctx actor.Context, rt *Runtime, token string) bool {
	if auth.Equal(token, rt.Token) {
		return true
	}
	if who, ok := TokenHolder(rt, token); ok {
		c := auth.Caller{Name: who.Username, Email: who.Email, Via: "token"}
		req, ok := ControlRequest(rt, ctx.Message())
		err := error(&authz.Denied{Role: "admin token"})
		if ok {
			err = authz.Check(rt.Config().GetWww().GetAuthz(), c, req)
		}
		if err == nil {
			return true
		}
		refused(rt, From(ctx), "control request refused by authz", slog.String("user", who.Username),
			slog.String("type", TypeName(ctx.Message())), slog.String("to", ctx.Self().Id))
		Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_PERMISSION_DENIED, Message: err.Error()})
		return false
	}
	refused(rt, From(ctx), "control request refused: bad admin token",
		slog.String("type", TypeName(ctx.Message())), slog.String("to", ctx.Self().Id))
	Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_UNAUTHENTICATED,
		Message: "admin token missing or wrong"})
	return false
}

// refused logs, at level Warn, msg with from=from and attrs for a control
// request refused, within from's budget of Runtime.Refusals: the remote
// endpoint passes any peer's well-formed request on to its actor, so a
// stranger who repeats a wrong token must not fill the log.
func refused(rt *Runtime, from, msg string, attrs ...slog.Attr) {
	rt.Refusals.LogAt(slog.LevelWarn, from, msg, append([]slog.Attr{slog.String("from", from)}, attrs...)...)
}

// From names where the current message came from, for logs: the peer of
// the control endpoint that passed it on, the sender's address, or "this
// process".
func From(ctx actor.Context) string {
	if peer := ctx.MessageHeader().Get(control.FromHeader); peer != "" {
		return peer
	}
	if s := ctx.Sender(); s != nil {
		return s.GetAddress()
	}
	return "this process"
}

// Respond answers the current message's sender, if it has one.
func Respond(ctx actor.Context, msg proto.Message) { Send(ctx, ctx.Sender(), msg) }

// Send sends msg to to, unless to is nil.
func Send(ctx actor.Context, to *actor.PID, msg proto.Message) {
	if to != nil {
		ctx.Send(to, msg)
	}
}

// TypeName is the protobuf name of m, for logs; "unknown" for anything else.
func TypeName(m any) string {
	if pm, ok := m.(proto.Message); ok {
		return string(proto.MessageName(pm))
	}
	return "unknown"
}
