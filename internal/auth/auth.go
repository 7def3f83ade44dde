// Package auth decides who an HTTP request or a control message comes from,
// for every surface of the master: the www listener (data API, force, change
// hooks), the debug endpoint, and the control messages of the control
// endpoint (listen.remote, through Equal).
//
// A surface applies Middleware once, around its whole handler: it reads the
// credentials of each request once (today a bearer token, the scheme
// case-insensitive) and attaches who they prove (a Caller) to the request's
// context. Handlers then ask From(ctx), or are wrapped in a gate such as
// RequireAdmin; none parses a header or compares a secret itself. Sessions,
// users and roles grow here: a new credential is a new case of Middleware and
// a new field of Caller, and the handlers' gates stay as they are.
//
// Secrets are compared in constant time (Equal), and never appear in a
// refusal or a log line.
package auth

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/buildmaster/buildmaster/internal/httpserve"
)

// AdminName is the Caller.Name of a request that carries the admin token.
const AdminName = "admin"

// Caller is who a request comes from, as Middleware found it. The zero
// Caller is an anonymous request.
type Caller struct {
	// Name is who the caller proved to be: AdminName for the admin token;
	// "" when the request proves nothing.
	Name string
	// Admin is true when the request carries the admin token: it may do
	// everything.
	Admin bool
	// Token is the bearer token the request presented ("" when none), for a
	// handler that checks secrets of its own (a change hook's) with Equal.
	// Never log it.
	Token string
	// Email and Groups are what the user's login told of them.
	Email  string
	Groups []string
	// Via says how a user proved who they are ("session", "token",
	// "remote_user"); "" for the admin token and anonymous.
	Via string
}

type callerKey struct{}

// From returns the Caller that Middleware attached to ctx; the anonymous
// Caller when there is none.
func From(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// WithCaller returns ctx carrying c (Middleware's work; for tests of
// handlers behind it).
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// Middleware returns the middleware of one surface of a master whose admin
// token is adminToken ("" admits nobody as admin): it attaches the Caller of
// each request to the request's context, and lets every request through;
// gates (RequireAdmin) refuse.
func Middleware(adminToken string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var c Caller
			if token, ok := Bearer(r.Header.Get("Authorization")); ok {
				c.Token = token
				if Equal(token, adminToken) {
					c.Name, c.Admin = AdminName, true
				}
			}
			next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
		})
	}
}

// Bearer returns the token of an Authorization header value
// "Bearer TOKEN": the scheme in any case, space around the token ignored.
// It reports false for another scheme, or no token.
func Bearer(header string) (string, bool) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// Equal reports whether a presented secret is want, in time that does not
// depend on where they differ. An empty want matches nothing: a secret that
// is not configured admits nobody.
func Equal(presented, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(want)) == 1
}

// RequireAdmin lets through to next only the requests of the admin (the
// Caller Middleware attached); it answers any other Unauthorized with msg,
// which says what is needed.
func RequireAdmin(msg string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !From(r.Context()).Admin {
			Unauthorized(w, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Unauthorized answers 401 with a bearer challenge and {"error": msg}.
func Unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="buildmaster"`)
	httpserve.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
}
