package status

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// forceSchedulers serves Buildbot's force scheduler endpoints:
//
//	GET  /api/v2/forceschedulers          the force schedulers: name, builder_names
//	GET  /api/v2/forceschedulers/{name}
//	POST /api/v2/forceschedulers/{name}   JSON-RPC 2.0 {"method": "force", "params": {...}}
//
// A POST needs `Authorization: Bearer <admin token>`. Its params are
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
	mux.HandleFunc("POST /api/v2/forceschedulers/{name}", func(w http.ResponseWriter, r *http.Request) {
		force(rt, w, r, list(r.PathValue("name")))
	})
}

type rpcRequest struct {
	JSONRPC string         `json:"jsonrpc"`
	Method  string         `json:"method"`
	Params  map[string]any `json:"params"`
	ID      any            `json:"id"`
}

func force(rt *service.Runtime, w http.ResponseWriter, r *http.Request, scheds []map[string]any) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || rt.Token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(rt.Token)) != 1 {
		writeError(w, http.StatusUnauthorized, "forcing a build needs Authorization: Bearer <admin token>")
		return
	}
	var req rpcRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	rpcError := func(status, code int, msg string) {
		service.WriteJSON(w, status, map[string]any{"jsonrpc": "2.0", "id": req.ID, "error": map[string]any{"code": code, "message": msg}})
	}
	switch {
	case err != nil:
		rpcError(http.StatusBadRequest, -32700, "the body is not a JSON-RPC request: "+err.Error())
		return
	case len(scheds) == 0:
		rpcError(http.StatusNotFound, -32601, "no force scheduler named "+r.PathValue("name"))
		return
	case req.Method != "force":
		rpcError(http.StatusNotImplemented, -32601, "unknown method "+req.Method+" (want force)")
		return
	}
	own := scheds[0]["builder_names"].([]string)
	str := func(k string) string { s, _ := req.Params[k].(string); return s }
	var builders []string
	switch names := req.Params["builderNames"].(type) {
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
	if len(builders) == 0 {
		rpcError(http.StatusBadRequest, -32602, "builderNames not specified or not supported")
		return
	}
	props := map[string]string{}
	for k, v := range req.Params {
		switch k {
		case "builderNames", "builderid", "reason", "owner", "branch", "revision", "repository", "project", "codebase":
		default:
			if s, ok := v.(string); ok {
				props[k] = s
			}
		}
	}
	var bsids []uint64
	brids := map[string]uint64{}
	for _, b := range builders {
		m, err := ask.Ask[*messages.ForceBuildResponse](r.Context(), rt.System.Root, actor.NewPID(rt.System.Address(), paths.Schedulers), &messages.ForceBuildRequest{
			Token: rt.Token, Builder: b, Scheduler: r.PathValue("name"), Reason: str("reason"), Owner: str("owner"), Properties: props,
			Branch: str("branch"), Revision: str("revision"), Repository: str("repository"), Project: str("project"), Codebase: str("codebase"),
		})
		var refused *ask.Error
		switch {
		case err == nil:
			bsids = append(bsids, m.GetBuildsetid())
			for _, id := range m.GetBrids() {
				brids[b] = id
			}
		case errors.As(err, &refused):
			rpcError(http.StatusBadRequest, -32602, refused.Message)
			return
		default:
			rpcError(http.StatusInternalServerError, -32603, "force failed: "+err.Error())
			return
		}
	}
	writeJSON(w, map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": []any{bsids[0], brids}})
}
