package debug

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/treeview"
	"github.com/buildmaster/buildmaster/messages"
)

// Handler returns the debug endpoint's HTTP handler for the master of rt, a
// service.Surface.
func Handler(rt *service.Runtime) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if rt.Tree.Lookup(paths.Master) == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "stopped"})
			return
		}
		writeJSON(w, http.StatusOK, healthz(rt))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(rt.Metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /debug/db", func(w http.ResponseWriter, _ *http.Request) { serveDB(rt, w) })
	mux.HandleFunc("GET /debug/tree", func(w http.ResponseWriter, r *http.Request) { serveTree(rt, w, r) })
	mux.HandleFunc("GET /debug/actors/{path...}", func(w http.ResponseWriter, r *http.Request) { serveActor(rt, w, r) })
	mux.Handle("POST /debug/actors/{path...}", actionsEnabled(rt, auth.RequireAdmin(
		"a valid admin token is required (Authorization: Bearer TOKEN)",
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveCrash(rt, w, r) }))))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return service.Surface(rt, mux)
}

// Health is the JSON form of GET /healthz for a running master. It is
// served with 200 also while degraded: the master is alive and serves
// reads, and restarting it (what a failed liveness probe does) would not
// free any disk; Status says what is wrong.
type Health struct {
	// Status is "ok", or "degraded: disk full" / "degraded: disk write
	// failed" while the state cannot be written (state.Health).
	Status     string    `json:"status"`
	Generation uint64    `json:"generation"`
	Reason     string    `json:"reason,omitempty"` // the failed write
	Since      time.Time `json:"since,omitzero"`
}

func healthz(rt *service.Runtime) Health {
	out := Health{Status: "ok", Generation: rt.Generation()}
	if rt.DB == nil {
		return out
	}
	if h := rt.DB.Health(); h.Degraded() {
		out.Status, out.Since = h.String(), h.Since
		if err := h.Log; err != nil {
			out.Reason = err.Error()
		} else {
			out.Reason = h.Snapshot.Error()
		}
	}
	return out
}

// actionsEnabled lets through to next only the requests for the one action,
// POST /debug/actors/{path}/crash, and only while debug.actions is on.
func actionsEnabled(rt *service.Runtime, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.PathValue("path"), "/crash") {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "the only action is POST /debug/actors/{path}/crash"})
			return
		}
		if !rt.Config().GetDebug().GetActions() {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "debug actions are disabled; set debug.actions: true in the config"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func serveTree(rt *service.Runtime, w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if path == "" {
		path = paths.Master
	}
	snap := rt.Tree.Snapshot(path)
	if snap == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no actor at %q", path)})
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		format = "html"
	}
	switch format {
	case "", "json":
		writeJSON(w, http.StatusOK, treeview.FromProto(snap))
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		treeview.WriteText(w, snap)
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=2><title>buildmaster tree</title>"+
			"<style>body{font:14px monospace;margin:1em}pre{line-height:1.4}</style><h1>buildmaster: live tree (generation %d)</h1><pre>", rt.Generation())
		var b strings.Builder
		treeview.WriteText(&b, snap)
		io.WriteString(w, html.EscapeString(b.String()))
		io.WriteString(w, "</pre>")
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "format must be json, text or html"})
	}
}

func serveActor(rt *service.Runtime, w http.ResponseWriter, r *http.Request) {
	path := r.PathValue("path")
	node := rt.Tree.Lookup(path)
	if node == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no actor at %q", path)})
		return
	}
	snap := rt.Tree.Snapshot(path)
	snap.Children = nil
	out := struct {
		*treeview.Node
		State json.RawMessage `json:"state"`
	}{Node: treeview.FromProto(snap), State: json.RawMessage("null")}
	if st := node.State(); st != nil {
		if b, err := protojson.Marshal(messages.Redacted(st)); err == nil {
			out.State = b
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func serveCrash(rt *service.Runtime, w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.PathValue("path"), "/crash")
	node := rt.Tree.Lookup(path)
	if node == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no actor at %q", path)})
		return
	}
	reason := r.URL.Query().Get("reason")
	if reason == "" {
		reason = "crash requested on the debug endpoint"
	}
	rt.Log.Warn("debug: injecting a failure", "actor", path, "peer", r.RemoteAddr)
	rt.System.Root.Send(rt.System.NewLocalPID(path), &messages.InjectFailure{Reason: reason})
	writeJSON(w, http.StatusAccepted, map[string]any{"path": path, "restarts": node.Restarts(), "status": "crash sent"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// DB is the JSON form of GET /debug/db.
type DB struct {
	Durable        bool           `json:"durable"`
	Dir            string         `json:"dir,omitempty"`
	Rows           map[string]int `json:"rows"`
	LastIndex      uint64         `json:"raft_last_index"`
	LastTerm       uint64         `json:"raft_last_term"`
	AppliedIndex   uint64         `json:"raft_applied_index"`
	LastSnapshot   *Snapshot      `json:"last_snapshot"`
	JournalBytes   int64          `json:"journal_bytes"`
	SnapshotsBytes int64          `json:"snapshots_bytes"`
}

// Snapshot describes the latest snapshot of the state.
type Snapshot struct {
	Index uint64    `json:"index"`
	Term  uint64    `json:"term"`
	Time  time.Time `json:"time"`
}

func serveDB(rt *service.Runtime, w http.ResponseWriter) {
	if rt.DB == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "no state"})
		return
	}
	st := rt.DB.Stats()
	out := DB{Durable: st.Durable, Dir: st.Dir, Rows: st.Rows, LastIndex: st.LastIndex, LastTerm: st.LastTerm,
		AppliedIndex: st.AppliedIndex, JournalBytes: st.JournalBytes, SnapshotsBytes: st.SnapshotBytes}
	if !st.LastSnapshotTime.IsZero() {
		out.LastSnapshot = &Snapshot{Index: st.LastSnapshotIndex, Term: st.LastSnapshotTerm, Time: st.LastSnapshotTime}
	}
	writeJSON(w, http.StatusOK, out)
}
