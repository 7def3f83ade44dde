package service

import (
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/secrets"
)

// StopGrace is how long a stopping HTTP service lets requests in flight
// finish before it closes their connections.
const StopGrace = 5 * time.Second

// HTTPService is the actor of a service that serves one handler (a surface)
// on one of the master's listeners, which the master bound before the tree
// started: debug on Runtime.Debug, status on Runtime.WWW. It serves when it
// starts, stops gracefully when it stops, and at once when it restarts after
// a failure; the listener stays bound throughout, so a restart never binds
// again. Messages other than the lifecycle go to Base.
type HTTPService struct {
	Base
	listener *httpserve.Listener
	handler  http.Handler
	srv      *httpserve.Server
}

// NewHTTPService returns the actor of the service spec, serving h on l (nil:
// it serves nothing).
func NewHTTPService(rt *Runtime, spec Spec, l *httpserve.Listener, h http.Handler) *HTTPService {
	return &HTTPService{Base: NewBase(rt, spec), listener: l, handler: h}
}

// Receive implements actor.Actor.
func (s *HTTPService) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		s.Base.Receive(ctx)
		if s.listener != nil {
			s.srv = httpserve.Serve(s.listener, s.handler, s.RT.Log)
		}
	case *actor.Stopping:
		if s.srv != nil {
			s.srv.Stop(StopGrace)
			s.srv = nil
		}
	case *actor.Restarting:
		if s.srv != nil {
			s.srv.Close()
			s.srv = nil
		}
	default:
		s.Base.Receive(ctx)
	}
}

// Surface wraps the handler of one HTTP surface (the www listener's, the
// debug endpoint's) in the middleware every surface applies once, outermost
// first: the redaction of secret values from what it answers (Redacted),
// the body bound (http.max_body_bytes, 413 past it) and auth.Middleware
// (who the request is from). Its handlers then gate with
// auth.RequireAdmin or read auth.From(r.Context()).
func Surface(rt *Runtime, h http.Handler) http.Handler {
	return Redacted(rt, httpserve.LimitBody(rt.MaxBodyBytes, auth.Middleware(rt.Token)(h)))
}

// Redacted wraps an HTTP surface so that no answer carries a secret value
// in use (Runtime.Redactor): the last line of defence, whatever a handler
// serves.
func Redacted(rt *Runtime, h http.Handler) http.Handler {
	return secrets.Middleware(rt.Redactor)(h)
}

// MaxBodyBytes is the largest request body the HTTP surfaces take, from the
// config in force: http.max_body_bytes.
func (rt *Runtime) MaxBodyBytes() int64 {
	if n := rt.Config().GetHttp().GetMaxBodyBytes(); n > 0 {
		return n
	}
	return config.DefaultMaxBodyBytes
}
