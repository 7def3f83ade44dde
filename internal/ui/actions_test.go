package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const testToken = "_cofCvXi9_NC9HNdPEETeMyDJsvZFmuFmD0kbTXDPsc" // the form token under the test key

// post serves a POST of body to h with headers (name, value pairs).
func post(h http.Handler, path, contentType, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

const formType = "application/x-www-form-urlencoded"

// TestFormActions: each plain form post (no JavaScript) calls the Control
// once and is redirected back.
func TestFormActions(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path, body, call, back string
	}{
		{"/builders/windows/builds/2/stop", form("_token", testToken, "reason", "enough", "return", "/builders/windows/builds/2"),
			"stop windows #2 (id 4): enough", "/builders/windows/builds/2"},
		{"/builders/linux/builds/2/rebuild", form("_token", testToken), "rebuild linux #2", "/builders/linux"},
		{"/requests/6/cancel", form("_token", testToken, "return", "/?tag=docs"), "cancel 6: ", "/?tag=docs"},
		{"/workers/w1/pause", form("_token", testToken), "pause w1: ", "/workers"},
		{"/workers/w1/unpause", form("_token", testToken), "unpause w1", "/workers"},
		{"/workers/w1/graceful", form("_token", testToken), "graceful w1", "/workers"},
		{"/workers/w1/kill", form("_token", testToken), "kill w1", "/workers"},
		{"/schedulers/on-main/disable", form("_token", testToken), "enable on-main false", "/schedulers"},
		{"/schedulers/on-main/enable", form("_token", testToken), "enable on-main true", "/schedulers"},
		{"/builders/docs/force", form("_token", testToken, "scheduler", "force", "reason", "docs now", "branch", "main",
			"revision", "abc", "prop:deploy", "yes", "props", "a=1\n\n b = two=2 \n"),
			`force force on docs: reason="docs now" branch="main" revision="abc" props=a=1,b= two=2,deploy=yes`, "/builders/docs"},
		// A return path off the site is ignored.
		{"/workers/w2/kill", form("_token", testToken, "return", "//evil.example/"), "kill w2", "/workers"},
	} {
		rec := newRecorder()
		u := newUI(t, f.store, rec)
		res := post(u, tc.path, formType, tc.body)
		if res.Code != http.StatusSeeOther || res.Header().Get("Location") != tc.back {
			t.Errorf("POST %s: %d → %q, want 303 → %q\n%s", tc.path, res.Code, res.Header().Get("Location"), tc.back, res.Body)
			continue
		}
		if len(rec.calls) != 1 || rec.calls[0] != tc.call {
			t.Errorf("POST %s called %q, want %q", tc.path, rec.calls, tc.call)
		}
	}
}

// TestRPCActions: Buildbot's JSON-RPC calls reach the same Control methods.
func TestRPCActions(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path, method, params, call, result string
	}{
		{"/api/v2/builds/4", "stop", `{"reason":"no"}`, "stop windows #2 (id 4): no", "null"},
		{"/api/v2/builds/3", "rebuild", `{}`, "rebuild linux #2", `[9,{"linux":19}]`},
		{"/api/v2/buildrequests/6", "cancel", `{"reason":"dup"}`, "cancel 6: dup", "null"},
		{"/api/v2/workers/1", "pause", `{"reason":"disk"}`, "pause w1: disk", "null"},
		{"/api/v2/workers/w1", "unpause", `{}`, "unpause w1", "null"},
		{"/api/v2/workers/1", "stop", `{}`, "graceful w1", "null"},
		{"/api/v2/workers/2", "kill", `{}`, "kill w2", "null"},
		{"/api/v2/schedulers/2", "enable", `{"enabled":false}`, "enable on-main false", "null"},
		{"/api/v2/forceschedulers/force", "force", `{"builderNames":["linux"],"reason":"r","branch":"b","revision":"c","deploy":"yes","n":3}`,
			`force force on linux: reason="r" branch="b" revision="c" props=deploy=yes`, `[7,{"linux":17}]`},
		{"/api/v2/forceschedulers/force", "force", `{"builderid":1,"reason":"by id"}`,
			`force force on docs: reason="by id" branch="" revision="" props=`, `[7,{"docs":17}]`},
	} {
		rec := newRecorder()
		u := newUI(t, f.store, rec)
		body := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":%s,"id":5}`, tc.method, tc.params)
		res := post(u, tc.path, "application/json", body, "Origin", "http://example.com")
		want := fmt.Sprintf(`{"id":5,"jsonrpc":"2.0","result":%s}`, tc.result)
		if res.Code != http.StatusOK || strings.TrimSpace(res.Body.String()) != want {
			t.Errorf("%s %s: %d %s, want %s", tc.path, tc.method, res.Code, res.Body, want)
		}
		if len(rec.calls) != 1 || rec.calls[0] != tc.call {
			t.Errorf("%s %s called %q, want %q", tc.path, tc.method, rec.calls, tc.call)
		}
	}
}

// TestActionRefusals: what is refused says why, with the right status, and
// calls nothing.
func TestActionRefusals(t *testing.T) {
	f := newFixture(t)
	rpc := func(method, params string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":%s,"id":1}`, method, params)
	}
	same := []string{"Origin", "http://example.com"}
	for _, tc := range []struct {
		name, path, ctype, body string
		headers                 []string
		code                    int
		msg                     string
	}{
		{"cross-origin form", "/workers/w1/kill", formType, form("_token", testToken), []string{"Origin", "https://evil.example"}, 403, "cross-origin"},
		{"cross-site fetch", "/api/v2/workers/1", "application/json", rpc("kill", "{}"), []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-origin"},
		{"no origin, no token", "/workers/w1/kill", formType, "", nil, 403, "form token"},
		{"no origin, wrong token", "/api/v2/workers/1", "application/json", rpc("kill", "{}"), []string{"X-UI-Token", "guess"}, 403, "form token"},
		{"unknown worker", "/workers/nope/kill", formType, form("_token", testToken), nil, 404, `no worker named &#34;nope&#34;`},
		{"unknown worker action", "/workers/w1/explode", formType, form("_token", testToken), nil, 501, `no action &#34;explode&#34;`},
		{"stop a finished build", "/builders/linux/builds/2/stop", formType, form("_token", testToken), nil, 400, "already finished"},
		{"cancel a complete request", "/requests/1/cancel", formType, form("_token", testToken), nil, 400, "already complete"},
		{"force an unlisted builder", "/api/v2/forceschedulers/force", "application/json", rpc("force", `{"builderNames":["nope"]}`), same, 400, `does not list builder \"nope\"`},
		{"force on no scheduler", "/api/v2/forceschedulers/on-main", "application/json", rpc("force", `{}`), same, 404, `no force scheduler named \"on-main\"`},
		{"bad props line", "/builders/docs/force", formType, form("_token", testToken, "scheduler", "force", "props", "novalue"), nil, 400, "line 1"},
		{"unknown method", "/api/v2/builds/4", "application/json", rpc("explode", "{}"), same, 501, `no action \"explode\"`},
		{"unknown resource", "/api/v2/changes/1", "application/json", rpc("stop", "{}"), same, 404, "no control endpoint"},
		{"not JSON", "/api/v2/builds/4", "application/json", "stop!", same, 400, "not a JSON-RPC request"},
		{"not 2.0", "/api/v2/builds/4", "application/json", `{"method":"stop"}`, same, 400, `\"jsonrpc\": \"2.0\"`},
		{"enable without enabled", "/api/v2/schedulers/2", "application/json", rpc("enable", "{}"), same, 400, `\"enabled\": true or false`},
		{"too big", "/api/v2/builds/4", "application/json", rpc("stop", `{"reason":"`+strings.Repeat("x", maxActionBody)+`"}`), same, 400, "too large"},
	} {
		rec := newRecorder()
		u := newUI(t, f.store, rec)
		res := post(u, tc.path, tc.ctype, tc.body, tc.headers...)
		if res.Code != tc.code || !strings.Contains(res.Body.String(), tc.msg) {
			t.Errorf("%s: %d, want %d with %q:\n%s", tc.name, res.Code, tc.code, tc.msg, res.Body)
		}
		if len(rec.calls) != 0 {
			t.Errorf("%s: called %q", tc.name, rec.calls)
		}
	}
}

// TestControlError: the Control's refusal is shown to the user, on the
// page (no JavaScript) and in the JSON-RPC error.
func TestControlError(t *testing.T) {
	f := newFixture(t)
	rec := newRecorder()
	rec.fail["w1"] = fmt.Errorf("worker w1 is not connected: %w", ErrInvalid)
	u := newUI(t, f.store, rec)
	res := post(u, "/workers/w1/pause", formType, form("_token", testToken, "return", "/workers"))
	if res.Code != http.StatusBadRequest || !strings.Contains(res.Body.String(), "pause workers/w1: worker w1 is not connected") ||
		!strings.Contains(res.Body.String(), `<a href="/workers">Back</a>`) {
		t.Errorf("form: %d\n%s", res.Code, res.Body)
	}
	res = post(u, "/api/v2/workers/1", "application/json", `{"jsonrpc":"2.0","method":"pause","id":"x"}`, "Origin", "http://example.com")
	want := `{"error":{"code":-32602,"message":"pause workers/w1: worker w1 is not connected: invalid request"},"id":"x","jsonrpc":"2.0"}`
	if res.Code != http.StatusBadRequest || strings.TrimSpace(res.Body.String()) != want {
		t.Errorf("rpc: %d %s\nwant %s", res.Code, res.Body, want)
	}
	rec.fail["w1"] = errors.New("the botmaster did not answer")
	if res := post(u, "/workers/w1/kill", formType, form("_token", testToken)); res.Code != http.StatusInternalServerError {
		t.Errorf("plain error: %d", res.Code)
	}
}

// TestCan: an action Can refuses is neither shown nor done; without a
// Control no button is shown and actions answer 501.
func TestCan(t *testing.T) {
	f := newFixture(t)
	rec := newRecorder()
	var asked []string
	u := newUI(t, f.store, rec, func(o *Options) {
		o.Can = func(_ *http.Request, a Action, target string) bool {
			asked = append(asked, string(a)+" "+target)
			return !(a == ActStop && target == "builders/windows/builds/2") && a != ActForce
		}
	})
	page := get(t, u, "/builders/windows/builds/2").Body.String()
	if strings.Contains(page, "/stop") {
		t.Errorf("the refused stop button is shown")
	}
	if page := get(t, u, "/builders/windows").Body.String(); strings.Contains(page, "Force a build") {
		t.Errorf("the refused force form is shown")
	}
	get(t, u, "/")
	if !strings.Contains(strings.Join(asked, "\n"), "cancel builders/docs/buildrequests/6") {
		t.Errorf("Can was asked %q", asked)
	}
	res := post(u, "/builders/windows/builds/2/stop", formType, form("_token", testToken))
	if res.Code != http.StatusForbidden || !strings.Contains(res.Body.String(), "you may not stop builders/windows/builds/2") || len(rec.calls) != 0 {
		t.Errorf("refused stop: %d %q\n%s", res.Code, rec.calls, res.Body)
	}

	none := newUI(t, f.store, nil)
	if page := get(t, none, "/workers").Body.String(); strings.Contains(page, "<button") {
		t.Errorf("buttons without a Control")
	}
	if res := post(none, "/workers/w1/kill", formType, form("_token", testToken)); res.Code != http.StatusNotImplemented {
		t.Errorf("action without a Control: %d", res.Code)
	}
}

// TestScripted: a request Options.Scripted recognises (a script with a
// bearer token) needs neither Origin nor the form token; any other still
// does.
func TestScripted(t *testing.T) {
	f := newFixture(t)
	rec := newRecorder()
	u := newUI(t, f.store, rec, func(o *Options) {
		o.Scripted = func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer right" }
	})
	body := `{"jsonrpc":"2.0","method":"pause","id":1}`
	if res := post(u, "/api/v2/workers/1", "application/json", body, "Authorization", "Bearer wrong"); res.Code != 403 || len(rec.calls) != 0 {
		t.Fatalf("unrecognised script: %d %s, calls %q", res.Code, res.Body, rec.calls)
	}
	if res := post(u, "/api/v2/workers/1", "application/json", body, "Authorization", "Bearer right"); res.Code != 200 || len(rec.calls) != 1 {
		t.Fatalf("recognised script: %d %s, calls %q", res.Code, res.Body, rec.calls)
	}
}
