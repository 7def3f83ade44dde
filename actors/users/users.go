// Package users is the `user_manager` service (Buildbot's
// UserManagerManager and its CommandlineUserManager): it owns the users
// table. It accepts messages.ApplyConfig, messages.UserRequest (`buildmaster
// user`: add, update, remove, get, with Buildbot's flags and answers) and
// messages.ApiTokenRequest (create, list, revoke a user's API tokens), both
// with the admin token. A new config that changes a web user's password
// (www.auth.users) ends that user's sessions before it is acknowledged
// (rotate.go). Passwords are stored as argon2id hashes
// (internal/users/password), API tokens as their SHA-256; neither is ever
// answered. Access (access.go) is what the www listener asks of it: who a
// request comes from and what they may do.
package users

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/users/password"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{Name: paths.UsersName, Kind: "user_manager_manager",
		New: func(rt *service.Runtime, s service.Spec) actor.Actor { return &manager{Base: service.NewBase(rt, s)} }}
}

// opTimeout bounds one request's hashing and writes.
const opTimeout = 30 * time.Second

type manager struct {
	service.Base
	hasher *password.Hasher
}

// Receive implements actor.Actor.
func (m *manager) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *messages.UserRequest:
		if service.Authorized(ctx, m.RT, msg.GetToken()) {
			m.async(ctx, func(c context.Context) (any, error) { return m.user(c, msg) })
		}
	case *messages.ApiTokenRequest:
		if service.Authorized(ctx, m.RT, msg.GetToken()) {
			m.async(ctx, func(c context.Context) (any, error) { return m.apiToken(c, msg) })
		}
	case *messages.ApplyConfig:
		m.applyConfig(ctx, msg.GetConfig())
	default:
		m.Base.Receive(ctx)
	}
}

// async runs op off the mailbox (hashing is slow on purpose) and answers
// the sender with its reply or a ControlError.
func (m *manager) async(ctx actor.Context, op func(context.Context) (any, error)) {
	if m.hasher == nil {
		h, err := password.NewHasher(password.DefaultParams(), 0)
		if err != nil {
			panic(err) // the default parameters are valid
		}
		m.hasher = h
	}
	sender, root := ctx.Sender(), m.RT.System.Root
	if sender == nil {
		return
	}
	go func() {
		c, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		reply, err := op(c)
		if err != nil {
			var ae *ask.Error
			if !errors.As(err, &ae) {
				ae = &ask.Error{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT, Message: err.Error()}
			}
			root.Send(sender, ae.Proto())
			return
		}
		root.Send(sender, reply)
	}()
}
