package changes

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The HTTP change hook (Buildbot's /change_hook/DIALECT), served on the www
// listener when a change source of that dialect is configured:
//
//   - POST /change_hook/base: one change from Buildbot's fields (form or
//     JSON), with `Authorization: Bearer SECRET` (hook_base.go);
//   - POST /change_hook/github: GitHub push events, signed with
//     X-Hub-Signature-256 (HMAC-SHA256 of the body with the secret)
//     (hook_github.go).
//
// A hook with no secret refuses every request: nothing from another process
// is obeyed without authentication. The answer, 200 with {"changeids": [...]},
// comes once the changes are durable; a bad change is a 400 saying why.

// HookPrefix is the path the hook is mounted at on the www listener, whose
// surface bounds a request's body (http.max_body_bytes, default 1 MiB).
const HookPrefix = "/change_hook/"

// HookHandler serves the change hooks. It reads the config in force at
// each request, and adds changes through change_svc.
func HookHandler(rt *service.Runtime) http.Handler { return &hookHandler{rt: rt, now: time.Now} }

type hookHandler struct {
	rt  *service.Runtime
	now func() time.Time
}

type hookConfig struct{ name, secret string }

// hookError is a refusal: the HTTP status and what to tell the client (never
// a secret).
type hookError struct {
	status int
	msg    string
}

func (e *hookError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) *hookError {
	return &hookError{status: status, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (h *hookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dialect := strings.TrimPrefix(r.URL.Path, HookPrefix)
	hooks := configuredHooks(h.rt.Config(), dialect)
	if len(hooks) == 0 {
		h.fail(w, r, dialect, refuse(http.StatusNotFound, "no change_hook of dialect %q is configured", dialect))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, dialect, refuse(http.StatusMethodNotAllowed, "the change hook takes POST only"))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if limit, tooBig := httpserve.TooLarge(err); tooBig {
			h.fail(w, r, dialect, refuse(http.StatusRequestEntityTooLarge, "%s", httpserve.TooLargeMessage(limit)))
		} else {
			h.fail(w, r, dialect, refuse(http.StatusBadRequest, "cannot read the body: %v", err))
		}
		return
	}
	var (
		hook    string
		changes []*messages.Change
		herr    *hookError
		note    string
	)
	switch dialect {
	case "base":
		if hook, herr = bearer(r, dialect, hooks); herr == nil {
			changes, herr = parseBase(r, body)
		}
	case "github":
		if hook, herr = signature(r, body, dialect, hooks); herr == nil {
			changes, note, herr = parseGitHub(r, body)
		}
	}
	if herr != nil {
		h.fail(w, r, dialect, herr)
		return
	}
	now := h.now().Unix()
	for i, c := range changes {
		if c.WhenTimestamp <= 0 {
			c.WhenTimestamp = now
		}
		if err := state.CheckChange(c); err != nil {
			h.fail(w, r, dialect, refuse(http.StatusBadRequest, "change %d: %v", i, err))
			return
		}
	}
	ids, herr := h.submit(r.Context(), changes)
	if herr != nil {
		h.fail(w, r, dialect, herr)
		return
	}
	if len(ids) > 0 {
		h.rt.Log.Info("change hook: changes added", slog.String("hook", hook), slog.String("dialect", dialect),
			service.IDs("changeids", ids), slog.String("peer", r.RemoteAddr))
	}
	out := map[string]any{"changeids": ids}
	if note != "" {
		out["message"] = note
	}
	httpserve.WriteJSON(w, http.StatusOK, out)
}

// configuredHooks returns the change hooks of dialect in cfg.
func configuredHooks(cfg *messages.MasterConfig, dialect string) []hookConfig {
	var out []hookConfig
	for _, cs := range cfg.GetChangeSources() {
		if ch := cs.GetChangeHook(); ch != nil && ch.GetDialect() == dialect {
			out = append(out, hookConfig{name: cs.GetName(), secret: ch.GetSecret()})
		}
	}
	return out
}

// noSecret is the refusal of a hook whose every source lacks a secret.
func noSecret(dialect string, hooks []hookConfig) *hookError {
	names := make([]string, len(hooks))
	for i, hc := range hooks {
		names[i] = strconv.Quote(hc.name)
	}
	return refuse(http.StatusForbidden, "change_hook %s (dialect %s) has no secret, so it refuses every request; set change_hook.secret",
		strings.Join(names, ", "), dialect)
}

// bearer authenticates a base hook request by its bearer token (read by
// auth.Middleware); it returns the name of the hook whose secret it carries.
func bearer(r *http.Request, dialect string, hooks []hookConfig) (string, *hookError) {
	if !slices.ContainsFunc(hooks, func(hc hookConfig) bool { return hc.secret != "" }) {
		return "", noSecret(dialect, hooks)
	}
	token := auth.From(r.Context()).Token
	if token == "" {
		return "", refuse(http.StatusUnauthorized, "the base change hook needs `Authorization: Bearer <secret>`")
	}
	for _, hc := range hooks {
		if auth.Equal(token, hc.secret) {
			return hc.name, nil
		}
	}
	return "", refuse(http.StatusForbidden, "the bearer token is not the change hook's secret")
}

// signature authenticates a GitHub request by its X-Hub-Signature-256; it
// returns the name of the hook whose secret signed it.
func signature(r *http.Request, body []byte, dialect string, hooks []hookConfig) (string, *hookError) {
	if !slices.ContainsFunc(hooks, func(hc hookConfig) bool { return hc.secret != "" }) {
		return "", noSecret(dialect, hooks)
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		return "", refuse(http.StatusForbidden, "the request has no X-Hub-Signature-256")
	}
	hexsum, ok := strings.CutPrefix(sig, "sha256=")
	got, err := hex.DecodeString(hexsum)
	if !ok || err != nil || len(got) != sha256.Size {
		return "", refuse(http.StatusForbidden, "X-Hub-Signature-256 is not sha256=<64 hex digits>")
	}
	for _, hc := range hooks {
		if hc.secret == "" {
			continue
		}
		mac := hmac.New(sha256.New, []byte(hc.secret))
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			return hc.name, nil
		}
	}
	return "", refuse(http.StatusForbidden, "X-Hub-Signature-256 does not match the body and the change hook's secret")
}

// fail answers a refusal, and logs it within Runtime.Refusals' budget
// (never a secret: the messages carry none).
func (h *hookHandler) fail(w http.ResponseWriter, r *http.Request, dialect string, e *hookError) {
	if e.status != http.StatusNotFound {
		h.rt.Refusals.Refused(r.RemoteAddr, "change hook: request refused", slog.String("dialect", dialect), slog.Int("status", e.status),
			slog.String("reason", e.msg))
	}
	httpserve.WriteJSON(w, e.status, map[string]any{"error": e.msg})
}

// submit adds the changes through change_svc, in order, each durable before
// the next is sent.
func (h *hookHandler) submit(ctx context.Context, changes []*messages.Change) ([]uint64, *hookError) {
	ids := []uint64{}
	for i, c := range changes {
		id, err := addChange(ctx, h.rt.System, &messages.AddChange{Change: c, AuthorVc: "git"})
		switch {
		case errors.Is(err, ask.ErrInvalidArgument):
			return ids, refuse(http.StatusBadRequest, "change %d refused (%d added before it): %v", i, len(ids), err)
		case err != nil:
			return ids, refuse(http.StatusServiceUnavailable, "change %d not added (%d added before it): %v", i, len(ids), err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
