package status

import (
	"net/http"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/messages"
)

// forceSchedulers serves the list of Buildbot's force schedulers:
//
//	GET  /api/v2/forceschedulers          the force schedulers: name, builder_names
//	GET  /api/v2/forceschedulers/{name}
//
// POST /api/v2/forceschedulers/{name} (JSON-RPC 2.0 force) is the UI's
// (internal/ui rpc.go), carried out by control.Force.
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
}
