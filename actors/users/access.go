package users

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/auth/authz"
	"github.com/buildmaster/buildmaster/internal/eventstream"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/loginlimit"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/users/password"
	"github.com/buildmaster/buildmaster/messages"
)

// Access is the www listener's access control: who each request comes
// from (auth.Web: sessions, API tokens, a trusted proxy's header) and what
// the authz rules let them do, read from the config and the users table
// on every request. The status service wraps its handler in Middleware and
// gives Can to the UI and Authorizer to the event streams.
type Access struct {
	rt  *service.Runtime
	web *auth.Web
}

// NewAccess returns the access control of the master of rt.
func NewAccess(rt *service.Runtime) *Access {
	h, err := password.NewHasher(password.DefaultParams(), 0)
	if err != nil {
		panic(err) // the default parameters are valid
	}
	a := &Access{rt: rt}
	log := rt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a.web = auth.NewWeb(auth.WebOptions{
		Config:     func() *messages.WwwConfig { return rt.Config().GetWww() },
		Directory:  directory{rt},
		AdminToken: rt.Token,
		Hasher:     h,
		Limiter:    loginlimit.New(loginlimit.Options{}),
		Sessions:   auth.NewSessions(sessionStore{rt}, nil),
		Log:        log.With("service", "www-auth"),
		Refusals:   rt.Refusals,
		Refused:    refusedCounter(rt),
	})
	return a
}

// refusedCounter counts the www's refused logins in Stats.LoginsRefused
// (nil Stats: in some tests, nothing).
func refusedCounter(rt *service.Runtime) func(reason string) {
	if rt.Stats == nil {
		return nil
	}
	return func(reason string) { rt.Stats.LoginsRefused.WithLabelValues("www", reason).Inc() }
}

// Configured says whether www.auth or www.authz is configured: else the
// status service keeps its default (control from loopback or the admin).
func (a *Access) Configured() bool {
	return a.web.Enabled() || len(a.rt.Config().GetWww().GetAuthz().GetAllow()) > 0
}

// LoginOffered says whether /auth/login opens sessions.
func (a *Access) LoginOffered() bool { return a.web.LoginOffered() }

// WarnIfOpen logs a warning when the www listener at addr is reachable
// from other hosts while nobody needs to log in (anonymous may do
// everything).
func (a *Access) WarnIfOpen(addr string) {
	if a.Configured() {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
		return
	}
	a.rt.Log.Warn("www is reachable from other hosts and www.auth is none: anybody may see everything, and control needs the admin token; configure www.auth and www.authz",
		slog.String("www", addr))
}

// Middleware authenticates each request (auth.Web), serves /auth/, and
// refuses with 403 "you need to have role 'X'" what the authz rules
// refuse: viewing a build (its steps, logs) and JSON-RPC control under
// /api/v2. What it lets through, the handlers serve without asking again.
func (a *Access) Middleware(next http.Handler) http.Handler {
	return a.web.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := a.describe(r)
		if err != nil {
			httpserve.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		c := auth.From(r.Context())
		for _, q := range req {
			if err := authz.Check(a.rt.Config().GetWww().GetAuthz(), c, q); err != nil {
				httpserve.WriteJSON(w, http.StatusForbidden, map[string]string{"error": err.Error()})
				return
			}
		}
		next.ServeHTTP(w, r)
	}))
}

// describe says what r asks, for the rules: several requests when it
// forces several builders.
func (a *Access) describe(r *http.Request) ([]authz.Request, error) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	api := len(segs) >= 2 && segs[0] == "api" && segs[1] == "v2"
	if api {
		segs = segs[2:]
	}
	txn := a.rt.DB.Read()
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if b := buildAt(txn, segs); b != nil {
			return []authz.Request{service.BuildRequest(txn, authz.ViewBuild, b)}, nil
		}
		return nil, nil
	}
	if !api {
		return nil, nil
	}
	if r.Method != http.MethodPost || len(segs) < 2 { // no such control: the API refuses it, Control or not
		return []authz.Request{{Action: authz.Control}}, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var rpc struct {
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	}
	_ = json.Unmarshal(body, &rpc) // a malformed body is the handler's to refuse
	switch {
	case segs[0] == "forceschedulers" && rpc.Method == "force":
		var out []authz.Request
		for _, b := range forcedBuilders(txn, rpc.Params) {
			out = append(out, authz.Request{Action: authz.Force, Builder: b, Branch: str(rpc.Params["branch"]), Project: str(rpc.Params["project"])})
		}
		if len(out) == 0 {
			out = append(out, authz.Request{Action: authz.Force})
		}
		return out, nil
	case (rpc.Method == "stop" || rpc.Method == "rebuild") && buildAt(txn, segs) != nil:
		action := authz.Stop
		if rpc.Method == "rebuild" {
			action = authz.Rebuild
		}
		return []authz.Request{service.BuildRequest(txn, action, buildAt(txn, segs))}, nil
	case segs[0] == "schedulers" && (rpc.Method == "enable" || rpc.Method == "disable"):
		return []authz.Request{{Action: authz.Enable, Scheduler: schedulerName(txn, segs[1])}}, nil
	}
	return []authz.Request{{Action: authz.Control}}, nil
}

// buildAt returns the build a path names: builds/ID/… or
// builders/ID|NAME/builds/NUMBER/…
func buildAt(txn *memdb.Txn, segs []string) *messages.Build {
	switch {
	case len(segs) >= 2 && segs[0] == "builds":
		id, err := strconv.ParseUint(segs[1], 10, 64)
		if err != nil {
			return nil
		}
		b, _ := state.Lookup(txn, state.TableBuilds, id).(*messages.Build)
		return b
	case len(segs) >= 4 && segs[0] == "builders" && segs[2] == "builds":
		bl := builderAt(txn, segs[1])
		n, err := strconv.ParseInt(segs[3], 10, 32)
		if bl == nil || err != nil {
			return nil
		}
		b, _ := state.First(txn, state.TableBuilds, state.IndexBuilderNumber, bl.Id, int32(n)).(*messages.Build)
		return b
	}
	return nil
}

func builderAt(txn *memdb.Txn, key string) *messages.Builder {
	if id, err := strconv.ParseUint(key, 10, 64); err == nil {
		b, _ := state.Lookup(txn, state.TableBuilders, id).(*messages.Builder)
		return b
	}
	b, _ := state.First(txn, state.TableBuilders, state.IndexName, key).(*messages.Builder)
	return b
}

func schedulerName(txn *memdb.Txn, key string) string {
	if id, err := strconv.ParseUint(key, 10, 64); err == nil {
		if s, _ := state.Lookup(txn, state.TableSchedulers, id).(*messages.Scheduler); s != nil {
			return s.Name
		}
	}
	return key
}

// forcedBuilders are the builders a force's params name (builderNames,
// or builderid).
func forcedBuilders(txn *memdb.Txn, params map[string]any) []string {
	var out []string
	if names, ok := params["builderNames"].([]any); ok {
		for _, n := range names {
			out = append(out, str(n))
		}
	}
	if id, ok := params["builderid"].(float64); ok {
		if b, _ := state.Lookup(txn, state.TableBuilders, uint64(id)).(*messages.Builder); b != nil {
			out = append(out, b.Name)
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Can is the UI's authorization (ui.Options.Can, with the action as a
// string): targets are "builders/NAME/builds/N", "forceschedulers/S/builders/NAME",
// "schedulers/NAME", "workers/NAME", "builders/NAME/buildrequests/ID".
func (a *Access) Can(r *http.Request, action, target string) bool {
	c := auth.From(r.Context())
	segs := strings.Split(target, "/")
	txn := a.rt.DB.Read()
	var req authz.Request
	switch {
	case (action == "stop" || action == "rebuild") && buildAt(txn, segs) != nil:
		req = service.BuildRequest(txn, action, buildAt(txn, segs))
	case action == "force" && len(segs) == 4:
		req = authz.Request{Action: authz.Force, Builder: segs[3]}
	case action == "enable" && len(segs) == 2:
		req = authz.Request{Action: authz.Enable, Scheduler: segs[1]}
	default:
		req = authz.Request{Action: authz.Control}
	}
	return authz.Check(a.rt.Config().GetWww().GetAuthz(), c, req) == nil
}

// Authorizer is the event streams' authorization: a stream's user gets no
// event of a builder whose builds they may not view.
func (a *Access) Authorizer() eventstream.Authorizer { return streamAuth{a} }

type streamAuth struct{ a *Access }

func (s streamAuth) Viewer(r *http.Request) (eventstream.Viewer, error) {
	return viewer{a: s.a, c: auth.From(r.Context())}, nil
}

type viewer struct {
	a *Access
	c auth.Caller
}

func (viewer) MayConsume(string) bool { return true }

func (v viewer) MayReceive(class string) bool {
	key, ok := strings.CutPrefix(class, "builders/")
	if !ok {
		return true
	}
	name := key
	if b := builderAt(v.a.rt.DB.Read(), key); b != nil {
		name = b.Name
	}
	return authz.Check(v.a.rt.Config().GetWww().GetAuthz(), v.c, authz.Request{Action: authz.ViewBuild, Builder: name}) == nil
}

// directory is auth.Directory over the users table.
type directory struct{ rt *service.Runtime }

func (d directory) Password(username string) (string, string, bool) {
	txn := d.rt.DB.Read()
	u := state.UserByUsername(txn, username)
	if u == nil || u.BbPassword == "" {
		return "", "", false
	}
	return u.BbPassword, state.UserAttrs(txn, u.Uid)["email"], true
}

func (d directory) Exists(username string) bool {
	return state.UserByUsername(d.rt.DB.Read(), username) != nil
}

func (d directory) Token(sum string) (auth.Identity, bool) {
	return service.TokenHolderBySum(d.rt, sum)
}
