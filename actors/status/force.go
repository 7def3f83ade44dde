package status

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// forceSchedulers serves Buildbot's force scheduler endpoints:
//
//	GET  /api/v2/forceschedulers          the force schedulers: name, builder_names
//	GET  /api/v2/forceschedulers/{name}
//	POST /api/v2/forceschedulers/{name}   JSON-RPC 2.0 {"method": "force", "params": {...}}
//
// A POST needs the admin token, or a user the authz rules allow it
// (anonymous, when no rule says otherwise). Its params are
// Buildbot's: builderNames (or builderid), reason, owner, branch, revision,
// repository, project, codebase, and any other string as a property. One
// buildset is forced per builder; the result is [buildsetid, brids].
func forceSchedulers(rt *service.Runtime, mux *http.ServeMux) {
	list := func(name string) []map[string]any {
		var out []map[string]any
		for _, s := range rt.Config().GetSchedulers() {
			if s.GetType() == messages.SchedulerType_SCHEDULER_TYPE_FORCE && (name == "" || s.GetName() == name) {
				out = append(out, map[string]any{"name": s.GetName(), "label": s.GetName(), "builder_names": s.GetBuilders()})
			}
		}
		return out
	}
	mux.HandleFunc("GET /api/v2/forceschedulers", func(w http.ResponseWriter, _ *http.Request) {
		l := list("")
		writeJSON(w, map[string]any{"forceschedulers": l, "meta": map[string]any{"total": len(l)}})
	})
	mux.HandleFunc("GET /api/v2/forceschedulers/{name}", func(w http.ResponseWriter, r *http.Request) {
		l := list(r.PathValue("name"))
		if len(l) == 0 {
			writeError(w, http.StatusNotFound, "no force scheduler named "+r.PathValue("name"))
			return
		}
		writeJSON(w, map[string]any{"forceschedulers": l, "meta": map[string]any{"total": 1}})
	})
	mux.Handle("POST /api/v2/forceschedulers/{name}", auth.RequireControl("forcing a build needs Authorization: Bearer <admin token>",
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { force(rt, w, r, list(r.PathValue("name"))) })))
}

type rpcRequest struct {
	JSONRPC string         `json:"jsonrpc"`
	Method  string         `json:"method"`
	Params  map[string]any `json:"params"`
	ID      any            `json:"id"`
}

// rpcError is a JSON-RPC error, with the HTTP status it is answered with.
type rpcError struct {
	status, code int
	msg          string
}

// forced is what forcing the builds of one request gave: the first buildset
// and each builder's build request.
type forced struct {
	bsids []uint64
	brids map[string]uint64
}

func force(rt *service.Runtime, w http.ResponseWriter, r *http.Request, scheds []map[string]any) {
	var req rpcRequest
	fail := func(e *rpcError) {
		httpserve.WriteJSON(w, e.status, map[string]any{"jsonrpc": "2.0", "id": req.ID, "error": map[string]any{"code": e.code, "message": e.msg}})
	}
	body, err := io.ReadAll(r.Body) // bounded by the surface
	if limit, tooBig := httpserve.TooLarge(err); tooBig {
		fail(&rpcError{http.StatusRequestEntityTooLarge, -32600, httpserve.TooLargeMessage(limit)})
		return
	}
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	switch {
	case err != nil:
		fail(&rpcError{http.StatusBadRequest, -32700, "the body is not a JSON-RPC request: " + err.Error()})
		return
	case len(scheds) == 0:
		fail(&rpcError{http.StatusNotFound, -32601, "no force scheduler named " + r.PathValue("name")})
		return
	case req.Method != "force":
		fail(&rpcError{http.StatusNotImplemented, -32601, "unknown method " + req.Method + " (want force)"})
		return
	}
	builders := forceBuilders(req.Params, scheds[0]["builder_names"].([]string))
	if len(builders) == 0 {
		fail(&rpcError{http.StatusBadRequest, -32602, "builderNames not specified or not supported"})
		return
	}
	out := forced{brids: map[string]uint64{}}
	for _, b := range builders {
		if e := forceOne(r, rt, forceRequest(r.PathValue("name"), b, req.Params), &out); e != nil {
			fail(e)
			return
		}
	}
	writeJSON(w, map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": []any{out.bsids[0], out.brids}})
}

// forceBuilders returns the builders params name (builderNames) among the
// scheduler's own, sorted; all of its own when params name none.
func forceBuilders(params map[string]any, own []string) []string {
	var builders []string
	switch names := params["builderNames"].(type) {
	case []any:
		for _, n := range names {
			if s, ok := n.(string); ok && slices.Contains(own, s) {
				builders = append(builders, s)
			}
		}
		slices.Sort(builders)
	case nil:
		builders = own
	}
	return builders
}

// forceRequest is the request to force builder through scheduler with
// Buildbot's params: its known fields, and any other string as a property.
func forceRequest(scheduler, builder string, params map[string]any) *messages.ForceBuildRequest {
	str := func(k string) string { s, _ := params[k].(string); return s }
	props := map[string]string{}
	for k, v := range params {
		switch k {
		case "builderNames", "builderid", "reason", "owner", "branch", "revision", "repository", "project", "codebase":
		default:
			if s, ok := v.(string); ok {
				props[k] = s
			}
		}
	}
	return &messages.ForceBuildRequest{
		Builder: builder, Scheduler: scheduler, Reason: str("reason"), Owner: str("owner"), Properties: props,
		Branch: str("branch"), Revision: str("revision"), Repository: str("repository"), Project: str("project"), Codebase: str("codebase"),
	}
}

// forceOne asks the scheduler manager to force req, and adds what it forced
// to out.
func forceOne(r *http.Request, rt *service.Runtime, req *messages.ForceBuildRequest, out *forced) *rpcError {
	req.Token = rt.Token
	m, err := ask.Ask[*messages.ForceBuildResponse](r.Context(), rt.System.Root, actor.NewPID(rt.System.Address(), paths.Schedulers), req)
	var refused *ask.Error
	switch {
	case err == nil:
		out.bsids = append(out.bsids, m.GetBuildsetid())
		for _, id := range m.GetBrids() {
			out.brids[req.GetBuilder()] = id
		}
		return nil
	case errors.As(err, &refused):
		return &rpcError{http.StatusBadRequest, -32602, refused.Message}
	default:
		return &rpcError{http.StatusInternalServerError, -32603, "force failed: " + err.Error()}
	}
}
