package changes

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// The HTTP change hook (Buildbot's /change_hook/DIALECT), served on the www
// listener when a change source of that dialect is configured:
//
//   - POST /change_hook/base: one change from Buildbot's fields (form or
//     JSON), with `Authorization: Bearer SECRET`;
//   - POST /change_hook/github: GitHub push events, signed with
//     X-Hub-Signature-256 (HMAC-SHA256 of the body with the secret).
//
// A hook with no secret refuses every request: nothing from another process
// is obeyed without authentication. The answer, 200 with {"changeids": [...]},
// comes once the changes are durable; a bad change is a 400 saying why.

const (
	// HookPrefix is the path the hook is mounted at on the www listener.
	HookPrefix = "/change_hook/"
	// MaxHookBodyBytes bounds a hook request's body.
	MaxHookBodyBytes = 10 << 20
)

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
	if r.ContentLength > MaxHookBodyBytes {
		h.fail(w, r, dialect, refuse(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", MaxHookBodyBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxHookBodyBytes))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			h.fail(w, r, dialect, refuse(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", MaxHookBodyBytes))
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
			service.IDs("changeids", ids), slog.String("from", r.RemoteAddr))
	}
	out := map[string]any{"changeids": ids}
	if note != "" {
		out["message"] = note
	}
	service.WriteJSON(w, http.StatusOK, out)
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

// bearer authenticates a base hook request by its bearer token; it returns
// the name of the hook whose secret it carries.
func bearer(r *http.Request, dialect string, hooks []hookConfig) (string, *hookError) {
	if !slices.ContainsFunc(hooks, func(hc hookConfig) bool { return hc.secret != "" }) {
		return "", noSecret(dialect, hooks)
	}
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", refuse(http.StatusUnauthorized, "the base change hook needs `Authorization: Bearer <secret>`")
	}
	token = strings.TrimSpace(token)
	for _, hc := range hooks {
		if hc.secret != "" && subtle.ConstantTimeCompare([]byte(token), []byte(hc.secret)) == 1 {
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

// fail answers a refusal, and logs it (never a secret: the messages carry none).
func (h *hookHandler) fail(w http.ResponseWriter, r *http.Request, dialect string, e *hookError) {
	if e.status != http.StatusNotFound {
		h.rt.Log.Warn("change hook: request refused", slog.String("dialect", dialect), slog.Int("status", e.status),
			slog.String("reason", e.msg), slog.String("from", r.RemoteAddr))
	}
	service.WriteJSON(w, e.status, map[string]any{"error": e.msg})
}

// submit adds the changes through change_svc, in order, each durable before
// the next is sent.
func (h *hookHandler) submit(ctx context.Context, changes []*messages.Change) ([]uint64, *hookError) {
	ids := []uint64{}
	for i, c := range changes {
		id, err := addChange(ctx, h.rt.System, &messages.AddChange{Change: c})
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

// ---- base ----

// parseBase reads Buildbot's base hook fields: from a JSON object when the
// body is application/json, else from the form (body and query).
func parseBase(r *http.Request, body []byte) ([]*messages.Change, *hookError) {
	fields := map[string]any{}
	if isJSON(r) {
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, refuse(http.StatusBadRequest, "the body is not a JSON object: %v", err)
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "the body is not a form: %v", err)
		}
		for k, v := range r.URL.Query() {
			if _, ok := form[k]; !ok {
				form[k] = v
			}
		}
		for k, v := range form {
			if len(v) > 0 {
				fields[k] = v[0]
			}
		}
	}
	str := func(k string) (string, *hookError) {
		switch v := fields[k].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64), nil
		}
		return "", refuse(http.StatusBadRequest, "%s must be a string", k)
	}
	c := &messages.Change{}
	for _, f := range []struct {
		key string
		to  *string
	}{
		{"author", &c.Author}, {"committer", &c.Committer}, {"comments", &c.Comments}, {"revision", &c.Revision},
		{"branch", &c.Branch}, {"repository", &c.Repository}, {"project", &c.Project}, {"category", &c.Category},
		{"revlink", &c.Revlink}, {"codebase", &c.Codebase},
	} {
		v, err := str(f.key)
		if err != nil {
			return nil, err
		}
		*f.to = v
	}
	if c.Author == "" {
		v, err := str("who")
		if err != nil {
			return nil, err
		}
		c.Author = v
	}
	for _, k := range []string{"when_timestamp", "when"} {
		if fields[k] == nil {
			continue
		}
		when, err := timestamp(fields[k])
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "%s: %v", k, err)
		}
		c.WhenTimestamp = when
		break
	}
	if v := fields["files"]; v != nil {
		if s, ok := v.(string); ok {
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				return nil, refuse(http.StatusBadRequest, "files is not a JSON list of strings: %v", err)
			}
		}
		list, ok := v.([]any)
		if !ok {
			return nil, refuse(http.StatusBadRequest, "files is not a JSON list of strings")
		}
		for _, f := range list {
			s, ok := f.(string)
			if !ok {
				return nil, refuse(http.StatusBadRequest, "files is not a JSON list of strings")
			}
			c.Files = append(c.Files, s)
		}
	}
	if v := fields["properties"]; v != nil {
		if s, ok := v.(string); ok {
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				return nil, refuse(http.StatusBadRequest, "properties is not a JSON object: %v", err)
			}
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, refuse(http.StatusBadRequest, "properties is not a JSON object")
		}
		props, err := properties(obj)
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "properties: %v", err)
		}
		c.Properties = props
	}
	return []*messages.Change{c}, nil
}

// timestamp reads epoch seconds (a number, or a string of one) or an
// RFC 3339 time.
func timestamp(v any) (int64, error) {
	switch t := v.(type) {
	case float64:
		if t <= 0 || t > math.MaxInt32*100 {
			return 0, fmt.Errorf("%v is not epoch seconds", t)
		}
		return int64(t), nil
	case string:
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return timestamp(f)
		}
		tm, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return 0, fmt.Errorf("%q is neither epoch seconds nor an RFC 3339 time", t)
		}
		return tm.Unix(), nil
	}
	return 0, errors.New("not a time")
}

// properties turns a JSON object into change properties, sorted by name.
func properties(obj map[string]any) ([]*messages.Property, error) {
	var out []*messages.Property
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v, err := json.Marshal(obj[k])
		if err != nil {
			return nil, err
		}
		out = append(out, &messages.Property{Name: k, ValueJson: string(v), Source: "Change"})
	}
	return out, nil
}

func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

// ---- github ----

type ghPerson struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type ghCommit struct {
	ID        string   `json:"id"`
	Message   string   `json:"message"`
	Timestamp string   `json:"timestamp"`
	URL       string   `json:"url"`
	Distinct  *bool    `json:"distinct"`
	Author    ghPerson `json:"author"`
	Committer ghPerson `json:"committer"`
	Added     []string `json:"added"`
	Removed   []string `json:"removed"`
	Modified  []string `json:"modified"`
}

type ghPush struct {
	Ref        string     `json:"ref"`
	Created    bool       `json:"created"`
	Deleted    bool       `json:"deleted"`
	Commits    []ghCommit `json:"commits"`
	HeadCommit *ghCommit  `json:"head_commit"`
	Repository struct {
		HTMLURL  string `json:"html_url"`
		FullName string `json:"full_name"`
	} `json:"repository"`
}

// skipCI matches Buildbot's default skip patterns, [ci skip] and [skip ci].
var skipCI = regexp.MustCompile(`\[ *(ci *skip|skip *ci) *\]`)

// parseGitHub reads a GitHub event. Like Buildbot's github hook: a push to
// refs/heads/B gives one change per commit on branch B; a push to
// refs/tags/T the same on branch T with category "tag"; a push creating
// its ref gives the head commit alone; a deletion, or a push whose head
// commit asks to skip CI, gives none. ping and other events give none.
func parseGitHub(r *http.Request, body []byte) ([]*messages.Change, string, *hookError) {
	event := r.Header.Get("X-GitHub-Event")
	switch event {
	case "ping":
		return nil, "pong", nil
	case "push":
	case "":
		return nil, "", refuse(http.StatusBadRequest, "the request has no X-GitHub-Event")
	default:
		return nil, fmt.Sprintf("event %q ignored", event), nil
	}
	payload := body
	if !isJSON(r) {
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("payload") == "" {
			return nil, "", refuse(http.StatusBadRequest, "the body is neither JSON nor a form with a payload")
		}
		payload = []byte(form.Get("payload"))
	}
	var p ghPush
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, "", refuse(http.StatusBadRequest, "the push payload does not parse: %v", err)
	}
	var branch, category string
	if b, ok := strings.CutPrefix(p.Ref, "refs/heads/"); ok && b != "" {
		branch = b
	} else if t, ok := strings.CutPrefix(p.Ref, "refs/tags/"); ok && t != "" {
		branch, category = t, "tag"
	} else {
		return nil, fmt.Sprintf("ref %q is not a branch or a tag; ignored", p.Ref), nil
	}
	if p.Deleted {
		return nil, fmt.Sprintf("%s deleted; ignored", p.Ref), nil
	}
	if p.HeadCommit != nil && skipCI.MatchString(p.HeadCommit.Message) {
		return nil, "the head commit asks to skip CI", nil
	}
	commits := p.Commits
	if p.Created && p.HeadCommit != nil {
		commits = []ghCommit{*p.HeadCommit}
	}
	var out []*messages.Change
	for i, c := range commits {
		if c.ID == "" {
			return nil, "", refuse(http.StatusBadRequest, "commits[%d] has no id", i)
		}
		var when int64
		if c.Timestamp != "" {
			t, err := time.Parse(time.RFC3339, c.Timestamp)
			if err != nil {
				return nil, "", refuse(http.StatusBadRequest, "commits[%d].timestamp %q is not an RFC 3339 time", i, c.Timestamp)
			}
			when = t.Unix()
		}
		distinct := c.Distinct == nil || *c.Distinct
		var files []string
		for _, l := range [][]string{c.Added, c.Modified, c.Removed} {
			files = append(files, l...)
		}
		ch := &messages.Change{
			Author:        person(c.Author),
			Comments:      c.Message,
			Revision:      c.ID,
			WhenTimestamp: when,
			Branch:        branch,
			Category:      category,
			Revlink:       c.URL,
			Repository:    p.Repository.HTMLURL,
			Project:       p.Repository.FullName,
			Files:         files,
			Properties: []*messages.Property{
				{Name: "event", ValueJson: `"push"`, Source: "Change"},
				{Name: "github_distinct", ValueJson: strconv.FormatBool(distinct), Source: "Change"},
			},
		}
		if c.Committer.Name != "" || c.Committer.Email != "" {
			ch.Committer = person(c.Committer)
		}
		out = append(out, ch)
	}
	return out, "", nil
}

func person(p ghPerson) string {
	if p.Name == "" && p.Email == "" {
		return ""
	}
	return fmt.Sprintf("%s <%s>", p.Name, p.Email)
}
