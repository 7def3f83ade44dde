// Package status is the `status` service (Buildbot's www service and data
// API): it owns the www listener (`listen.www`, default 127.0.0.1:8010),
// which serves
//
//   - the web pages at / (internal/ui: Home, builders, builds, workers,
//     console, grid, changes, schedulers, requests, master);
//   - the data API read-only at GET /api/v2 (see API), the force schedulers'
//     list (force.go), and Buildbot's JSON-RPC control at POST /api/v2/…
//     (the UI's; carried out by control.go with actor messages);
//   - the event streams GET /ws and /sse (internal/eventstream) of the
//     master's event bus (Runtime.Bus), which Publisher feeds from every
//     committed state change;
//   - the change hooks under /change_hook/.
//
// It is the parent of the reporters (actors/reporters: one child
// reporter:NAME per configured reporter).
//
// It accepts messages.ApplyConfig; its listener (Runtime.WWW, bound by the
// master) cannot change while the master runs. It reads the state through
// immutable read transactions (rt.DB.Read), so a request never waits for a
// writer and never goes through a mailbox.
package status

import (
	"fmt"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/changes"
	"github.com/buildmaster/buildmaster/actors/reporters"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/actors/users"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/eventstream"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/ui"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{
		Name: paths.StatusName, Kind: "status",
		Part: func(c *messages.MasterConfig) proto.Message {
			return &messages.MasterConfig{Listen: &messages.ListenConfig{Www: c.GetListen().GetWww()}}
		},
		Groups: func() []service.Group { return []service.Group{reporters.Group()} },
		New: func(rt *service.Runtime, s service.Spec) actor.Actor {
			h, streams := handler(rt)
			return &statusActor{HTTPService: service.NewHTTPService(rt, s, rt.WWW, h), streams: streams}
		},
	}
}

// statusActor is the HTTP service that also ends its event streams when it
// stops (a hijacked WebSocket outlives the HTTP server's shutdown).
type statusActor struct {
	*service.HTTPService
	streams *eventstream.Server
}

// Receive implements actor.Actor.
func (s *statusActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Stopping, *actor.Restarting:
		s.streams.Close()
	}
	s.HTTPService.Receive(ctx)
}

// Handler is the www listener's handler (see the package comment), behind
// users.Access (who a request comes from, what the authz rules let them
// do; the login flow under /auth/), the body bound and the redaction of
// secret values (service.Redacted). Its event streams
// end when the bus closes.
func Handler(rt *service.Runtime) http.Handler {
	h, _ := handler(rt)
	return h
}

func handler(rt *service.Runtime) (http.Handler, *eventstream.Server) {
	acc := users.NewAccess(rt)
	if rt.WWW != nil {
		acc.WarnIfOpen(rt.WWW.Addr().String())
	}
	mux := http.NewServeMux()
	forceSchedulers(rt, mux)
	streams := eventstream.New(rt.Bus, eventstream.Options{Logger: rt.Log, Authorizer: acc.Authorizer()})
	mux.Handle("GET /ws", longLived(http.HandlerFunc(streams.ServeWebSocket)))
	mux.Handle("GET /sse", longLived(http.HandlerFunc(streams.ServeSSE)))
	mux.Handle("GET /sse/{rest...}", longLived(http.HandlerFunc(streams.ServeSSE)))
	pages := UI(rt, acc)
	mux.Handle("/", pages)
	mux.Handle("POST /api/v2/", pages)
	mux.Handle("/api/v2/", API(rt))
	mux.Handle(changes.HookPrefix, changes.HookHandler(rt))
	return service.Redacted(rt, httpserve.LimitBody(rt.MaxBodyBytes, acc.Middleware(mux))), streams
}

// longLived lifts the listener's read and write timeouts (http.read_timeout,
// write_timeout) off an event stream, which lasts as long as its client
// watches: the stream bounds itself (pings, a deadline per write, the
// client limit; see eventstream.Limits).
func longLived(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		h.ServeHTTP(w, r)
	})
}

// UI returns the web pages of rt's master, acting through control, its
// buttons and actions allowed by acc's rules (users.Access.Can) once
// www.auth or www.authz is configured, and else as allow says.
func UI(rt *service.Runtime, acc *users.Access) *ui.UI {
	local := allow(rt)
	opts := ui.Options{
		State: rt.DB, Control: control{rt: rt}, Tree: tree{rt}, Config: rt.Config, Started: time.Now(), Log: rt.Log,
		Can: func(r *http.Request, a ui.Action, target string) bool {
			if !acc.Configured() {
				return local(r, a, target)
			}
			return acc.Can(r, string(a), target)
		},
		User: func(r *http.Request) ui.User {
			c := auth.From(r.Context())
			return ui.User{Name: c.Name, CanLogOut: c.Via == "session", CanLogIn: acc.LoginOffered()}
		},
		Scripted:  func(r *http.Request) bool { c := auth.From(r.Context()); return c.Admin || c.Via == "token" },
		Reporters: func() []*messages.ReporterState { return reporters.States(rt) },
	}
	if rt.Logs != nil {
		opts.Logs = rt.Logs
	}
	u, err := ui.New(opts)
	if err != nil {
		panic(fmt.Sprintf("status: the embedded pages do not load: %v", err)) // a build error, not an input's
	}
	return u
}

// tree is the live supervision tree shown on /master.
type tree struct{ rt *service.Runtime }

func (t tree) Tree() *messages.TreeNode { return t.rt.Tree.Snapshot(paths.Master) }
