package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// rpcRequest is a JSON-RPC 2.0 call, as Buildbot's UI posts it.
type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  map[string]any  `json:"params"`
	ID      json.RawMessage `json:"id"`
}

// JSON-RPC 2.0 error codes.
const (
	rpcParseError     = -32700
	rpcInvalidRequest = -32600
	rpcNoMethod       = -32601
	rpcInvalidParams  = -32602
	rpcInternal       = -32603
)

// rpc answers POST /api/v2/{resource}/{id}: Buildbot's control calls on
// builds (stop, rebuild), buildrequests (cancel), workers (pause, unpause,
// stop, kill), schedulers (enable) and forceschedulers (force).
func (u *UI) rpc(w http.ResponseWriter, r *http.Request) {
	var req rpcRequest
	reply := func(code int, result any, err error) {
		body := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if req.ID == nil {
			body["id"] = nil
		}
		if err != nil {
			if code == 0 {
				code = statusOf(err)
			}
			body["error"] = map[string]any{"code": rpcCode(code), "message": err.Error()}
		} else {
			body["result"] = result
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(max(code, http.StatusOK))
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(body)
	}
	if err := u.guard.check(r); err != nil {
		reply(http.StatusForbidden, nil, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxActionBody))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	switch {
	case err != nil:
		reply(http.StatusBadRequest, nil, fmt.Errorf("the body is not a JSON-RPC request: %w", err))
		return
	case req.JSONRPC != "2.0" || req.Method == "":
		reply(http.StatusBadRequest, nil, fmt.Errorf(`a JSON-RPC request needs "jsonrpc": "2.0" and a method`))
		return
	}
	txn := u.opts.State.Read()
	a, err := u.resolveRPC(txn, r.PathValue("resource"), r.PathValue("id"), &req)
	txn.Abort()
	if err != nil {
		reply(0, nil, err)
		return
	}
	res, err := u.perform(r, a)
	reply(0, res, err)
}

// rpcCode is the JSON-RPC error code of an HTTP status.
func rpcCode(status int) int {
	switch status {
	case http.StatusBadRequest:
		return rpcInvalidParams
	case http.StatusNotFound, http.StatusNotImplemented:
		return rpcNoMethod
	case http.StatusForbidden:
		return rpcInvalidRequest
	}
	return rpcInternal
}

// resolveRPC turns a JSON-RPC call on resource/id into an act.
func (u *UI) resolveRPC(txn *memdb.Txn, resource, id string, req *rpcRequest) (*act, error) {
	str := func(k string) string { s, _ := req.Params[k].(string); return s }
	switch resource {
	case "builds":
		n, _ := strconv.ParseUint(id, 10, 64)
		b, _ := state.Lookup(txn, state.TableBuilds, n).(*messages.Build)
		if b == nil {
			return nil, notFound("there is no build %q", id)
		}
		builder, _ := state.Lookup(txn, state.TableBuilders, b.Builderid).(*messages.Builder)
		return buildAct(b, builder.GetName(), req.Method, str("reason"))
	case "buildrequests":
		if req.Method != "cancel" {
			return nil, &httpError{http.StatusNotImplemented, fmt.Sprintf("buildrequests have no method %q (cancel)", req.Method)}
		}
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return nil, notFound("there is no build request %q", id)
		}
		return requestAct(txn, n, str("reason"))
	case "workers":
		w, _ := byIDOrName(txn, state.TableWorkers, id).(*messages.Worker)
		if w == nil {
			return nil, notFound("there is no worker %q", id)
		}
		return workerAct(w.Name, req.Method, str("reason"))
	case "schedulers":
		s, _ := byIDOrName(txn, state.TableSchedulers, id).(*messages.Scheduler)
		if s == nil {
			return nil, notFound("there is no scheduler %q", id)
		}
		if req.Method != "enable" {
			return nil, &httpError{http.StatusNotImplemented, fmt.Sprintf("schedulers have no method %q (enable)", req.Method)}
		}
		enabled, ok := req.Params["enabled"].(bool)
		if !ok {
			return nil, badRequest(`enable needs "enabled": true or false`)
		}
		return schedulerAct(s.Name, enabled), nil
	case "forceschedulers":
		if req.Method != "force" {
			return nil, &httpError{http.StatusNotImplemented, fmt.Sprintf("forceschedulers have no method %q (force)", req.Method)}
		}
		return forceRPC(txn, u.opts.Config(), id, req.Params)
	}
	return nil, notFound("there is no control endpoint /api/v2/%s", resource)
}

// forceRPC reads Buildbot's force params: builderNames (or builderid),
// reason, owner, branch, revision, repository, project, codebase, and any
// other string as a property.
func forceRPC(txn *memdb.Txn, cfg *messages.MasterConfig, sched string, params map[string]any) (*act, error) {
	f := ForceRequest{Scheduler: sched, Properties: map[string]string{}}
	fields := map[string]*string{"reason": &f.Reason, "owner": &f.Owner, "branch": &f.Branch, "revision": &f.Revision,
		"repository": &f.Repository, "project": &f.Project, "codebase": &f.Codebase}
	var builders []string
	for k, val := range params {
		switch {
		case k == "builderNames":
			names, ok := val.([]any)
			if !ok {
				return nil, badRequest("builderNames must be a list of builder names")
			}
			for _, n := range names {
				s, ok := n.(string)
				if !ok {
					return nil, badRequest("builderNames must be a list of builder names")
				}
				builders = append(builders, s)
			}
		case k == "builderid":
			n, ok := val.(float64)
			b, _ := state.Lookup(txn, state.TableBuilders, uint64(n)).(*messages.Builder)
			if !ok || b == nil {
				return nil, notFound("there is no builder with builderid %v", val)
			}
			builders = append(builders, b.Name)
		case fields[k] != nil:
			s, ok := val.(string)
			if !ok {
				return nil, badRequest("%s must be a string", k)
			}
			*fields[k] = s
		default:
			if s, ok := val.(string); ok {
				f.Properties[k] = s
			}
		}
	}
	return forceAct(cfg, f, builders)
}

// byIDOrName finds a row of table by numeric id, else by its unique name.
func byIDOrName(txn *memdb.Txn, table, key string) any {
	if n, err := strconv.ParseUint(key, 10, 64); err == nil {
		if row := state.Lookup(txn, table, n); row != nil {
			return row
		}
	}
	return state.First(txn, table, state.IndexName, key)
}
