package users_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/actors/users"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

const builders = `
workers: [{name: w, password: pw}]
builders:
  - {name: pub, workers: [w], steps: [{shell: {command: ["true"]}}]}
  - {name: release, workers: [w], steps: [{shell: {command: ["true"]}}]}
schedulers: [{name: f, type: force, builders: [pub, release]}]
`

// viewRules: alice (admins) may view release's builds and control; bob
// may view pub's only.
const viewRules = `
www:
  auth: {type: userpass, users: [{username: alice, password: a}, {username: bob, password: b}]}
  authz:
    roles: [{from: username, role: admins, users: [alice]}]
    allow:
      - {endpoint: view, builder: release, role: admins}
      - {endpoint: control, role: admins}
`

// client is one browser: its own cookies.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, m *master.Master) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: "http://" + m.WWWAddr, hc: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path, body string, hdr ...string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *client) login(user, pass string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, c.base+"/auth/login", nil)
	req.SetBasicAuth(user, pass)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// force forces builder as the UI's page does (same Origin).
func (c *client) force(builder string) (int, string) {
	return c.do(http.MethodPost, "/api/v2/forceschedulers/f",
		`{"jsonrpc":"2.0","method":"force","params":{"builderNames":["`+builder+`"]},"id":1}`, "Content-Type", "application/json", "Origin", c.base)
}

// TestWebLoginAndRoles: over HTTP, with users listed in the config:
// anonymous and a user without the role are refused control with 403 and
// the role's name; the admin role forces; wrong passwords say nothing of
// which part was wrong and are rate-limited; a logged-out cookie replayed
// proves nothing.
func TestWebLoginAndRoles(t *testing.T) {
	m := mastertest.Start(t, builders+`
www:
  auth: {type: userpass, users: [{username: alice, password: alice-pw}, {username: bob, password: bob-pw, groups: [devs]}]}
  authz:
    roles: [{from: username, role: admins, users: [alice]}, {from: groups}]
    allow:
      - {endpoint: force, builder: "release", role: admins}
      - {endpoint: force, role: devs}
      - {endpoint: control, role: admins}
`, "", nil)
	anon := newClient(t, m)
	if code, body := anon.force("pub"); code != http.StatusForbidden || !strings.Contains(body, "you need to have role 'devs'") {
		t.Fatalf("anonymous force: %d %s", code, body)
	}
	if code, body := anon.do(http.MethodGet, "/auth/user", ""); code != 200 || !strings.Contains(body, `"anonymous":true`) {
		t.Fatalf("anonymous user: %d %s", code, body)
	}

	bob := newClient(t, m)
	if code, body := bob.login("bob", "bob-pw"); code != 200 || !strings.Contains(body, `"username":"bob"`) {
		t.Fatalf("bob login: %d %s", code, body)
	}
	if code, body := bob.force("pub"); code != 200 {
		t.Fatalf("bob (devs) forces pub: %d %s", code, body)
	}
	if code, body := bob.force("release"); code != http.StatusForbidden || !strings.Contains(body, "you need to have role 'admins'") {
		t.Fatalf("bob forces release: %d %s", code, body)
	}
	if code, body := bob.do(http.MethodPost, "/api/v2/forceschedulers/f", `{"jsonrpc":"2.0","method":"force","params":{"builderNames":["pub"]},"id":1}`,
		"Origin", "http://evil.example"); code != http.StatusForbidden || !strings.Contains(body, "cross-origin") {
		t.Fatalf("bob's cookie from another origin: %d %s", code, body)
	}

	alice := newClient(t, m)
	wrongPw, _ := alice.login("alice", "nope")
	_, wrongPwBody := alice.login("alice", "nope")
	_, noUserBody := alice.login("nobody", "alice-pw")
	if wrongPw != http.StatusUnauthorized || wrongPwBody != noUserBody || !strings.Contains(noUserBody, "wrong user name or password") {
		t.Fatalf("wrong logins: %d %q vs %q", wrongPw, wrongPwBody, noUserBody)
	}
	if code, _ := alice.login("alice", "alice-pw"); code != 200 {
		t.Fatalf("alice login: %d", code)
	}
	if code, body := alice.force("release"); code != 200 {
		t.Fatalf("alice forces release: %d %s", code, body)
	}

	// Logout ends the session on the server: the same cookie replayed is anonymous.
	u, _ := url.Parse(alice.base)
	cookies := alice.hc.Jar.Cookies(u)
	if code, _ := alice.do(http.MethodGet, "/auth/logout", ""); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	replay := newClient(t, m)
	replay.hc.Jar.SetCookies(u, cookies)
	if code, body := replay.force("release"); code != http.StatusForbidden {
		t.Fatalf("replayed cookie after logout: %d %s", code, body)
	}
	forged := newClient(t, m)
	forged.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "buildmaster_session", Value: "abc.def"}})
	if code, body := forged.do(http.MethodGet, "/auth/user", ""); !strings.Contains(body, "anonymous") {
		t.Fatalf("forged cookie: %d %s", code, body)
	}

	// Guessing: refused with 429 long before many guesses, even the right password.
	var code int
	for range 30 {
		if code, _ = anon.login("bob", "guess"); code == http.StatusTooManyRequests {
			break
		}
	}
	if code != http.StatusTooManyRequests {
		t.Fatalf("30 wrong passwords: last %d, want 429", code)
	}
	if code, _ := anon.login("bob", "bob-pw"); code != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: %d", code)
	}
}

func userReq(t *testing.T, m *master.Master, req *messages.UserRequest) (*messages.UserResponse, error) {
	t.Helper()
	req.Token = mastertest.Token
	return ask.Ask[*messages.UserResponse](context.Background(), m.RT.System.Root, actor.NewPID(m.RT.System.Address(), paths.Users), req)
}

// TestUsersTable: buildmaster user's operations, web login against the
// users table (argon2id hashes, never shown), a new password ending the
// sessions of the old one, API tokens holding their user's roles, and a
// removed user losing access on the next request.
func TestUsersTable(t *testing.T) {
	m := mastertest.Start(t, builders+`
www:
  auth: {type: userpass}
  authz:
    roles: [{from: username, role: admins, users: [dave]}]
    allow: [{endpoint: control, role: admins}]
`, "", nil)
	res, err := userReq(t, m, &messages.UserRequest{Op: messages.UserOp_USER_OP_ADD,
		Info: []*messages.UserAttrs{{Attrs: map[string]string{"git": "Dave <d@x>", "email": "d@x"}}}})
	if err != nil || res.GetText() != "user(s) added:\nidentifier: Dave <d@x>\nuid: 1\n\n" {
		t.Fatalf("add: %v %q", err, res.GetText())
	}
	if _, err := userReq(t, m, &messages.UserRequest{Op: messages.UserOp_USER_OP_ADD,
		Info: []*messages.UserAttrs{{Attrs: map[string]string{"identifier": "x"}}}}); !errors.Is(err, ask.ErrInvalidArgument) {
		t.Fatalf("add with identifier: %v", err)
	}
	if _, err := userReq(t, m, &messages.UserRequest{Op: messages.UserOp_USER_OP_UPDATE, BbUsername: "dave", BbPassword: "dave-pw",
		Info: []*messages.UserAttrs{{Attrs: map[string]string{"identifier": "Dave <d@x>"}}}}); err != nil {
		t.Fatal(err)
	}
	res, err = userReq(t, m, &messages.UserRequest{Op: messages.UserOp_USER_OP_GET, Ids: []string{"Dave <d@x>", "nobody"}})
	if err != nil || res.GetText() != "user(s) found:\nbb_username: dave\nemail: d@x\ngit: Dave <d@x>\nidentifier: Dave <d@x>\nuid: 1\n\nno match found\n" ||
		strings.Contains(res.String(), "argon2") {
		t.Fatalf("get: %v %q", err, res)
	}
	api := newClient(t, m)
	if code, body := api.do(http.MethodGet, "/api/v2/users", ""); code != 200 || strings.Contains(body, "argon2") || !strings.Contains(body, `"identifier":"Dave <d@x>"`) {
		t.Fatalf("/api/v2/users: %d %s", code, body)
	}

	dave := newClient(t, m)
	if code, body := dave.login("dave", "dave-pw"); code != 200 {
		t.Fatalf("dave login: %d %s", code, body)
	}
	if code, body := dave.force("pub"); code != 200 {
		t.Fatalf("dave forces: %d %s", code, body)
	}
	// A new password ends the sessions of the old one.
	if _, err := userReq(t, m, &messages.UserRequest{Op: messages.UserOp_USER_OP_UPDATE, BbUsername: "dave", BbPassword: "dave-pw-2",
		Info: []*messages.UserAttrs{{Attrs: map[string]string{"identifier": "Dave <d@x>"}}}}); err != nil {
		t.Fatal(err)
	}
	if code, body := dave.force("pub"); code != http.StatusForbidden {
		t.Fatalf("dave's session of his old password forces: %d %s", code, body)
	}
	dave = newClient(t, m)
	if code, body := dave.login("dave", "dave-pw-2"); code != 200 {
		t.Fatalf("dave login with his new password: %d %s", code, body)
	}

	tok, err := ask.Ask[*messages.ApiTokenResponse](context.Background(), m.RT.System.Root, actor.NewPID(m.RT.System.Address(), paths.Users),
		&messages.ApiTokenRequest{Token: mastertest.Token, Op: messages.ApiTokenOp_API_TOKEN_OP_CREATE, User: "Dave <d@x>", Name: "ci"})
	if err != nil || !strings.HasPrefix(tok.GetSecret(), "bmt_") {
		t.Fatalf("token: %v %v", err, tok)
	}
	script := newClient(t, m)
	if code, body := script.do(http.MethodPost, "/api/v2/forceschedulers/f", `{"jsonrpc":"2.0","method":"force","params":{"builderNames":["pub"]},"id":1}`,
		"Authorization", "Bearer "+tok.GetSecret()); code != 200 {
		t.Fatalf("token forces: %d %s", code, body)
	}

	if code, body := script.do(http.MethodPost, "/api/v2/forceschedulers/f", `{"jsonrpc":"2.0","method":"force","params":{"builderNames":["pub"]},"id":1}`,
		"Authorization", "Bearer bmt_wrong"); code != http.StatusForbidden {
		t.Fatalf("a wrong token: %d %s", code, body)
	}
	if _, err := userReq(t, m, &messages.UserRequest{Op: messages.UserOp_USER_OP_REMOVE, Ids: []string{"Dave <d@x>"}}); err != nil {
		t.Fatal(err)
	}
	if code, body := dave.force("pub"); code != http.StatusForbidden {
		t.Fatalf("removed dave's session forces: %d %s", code, body)
	}
	if code, body := script.do(http.MethodPost, "/api/v2/forceschedulers/f", `{"jsonrpc":"2.0","method":"force","params":{"builderNames":["pub"]},"id":1}`,
		"Authorization", "Bearer "+tok.GetSecret()); code != http.StatusForbidden {
		t.Fatalf("removed dave's token forces: %d %s", code, body)
	}
}

// TestCanAndStreams: the UI's Can and the event streams' Viewer follow the
// same rules: a user who may not view a builder's builds gets no events of
// its class, and buttons refused by role are refused.
func TestCanAndStreams(t *testing.T) {
	m := mastertest.Start(t, builders+viewRules, "", nil)
	acc := users.NewAccess(m.RT)
	release, _ := state.First(m.RT.DB.Read(), state.TableBuilders, state.IndexName, "release").(*messages.Builder)
	pub, _ := state.First(m.RT.DB.Read(), state.TableBuilders, state.IndexName, "pub").(*messages.Builder)
	if release == nil || pub == nil {
		t.Fatal("builders not recorded")
	}
	as := func(name string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/ws", nil)
		return r.WithContext(auth.WithCaller(r.Context(), auth.Caller{Name: name}))
	}
	for _, tc := range []struct {
		user          string
		release, ctrl bool
	}{{"alice", true, true}, {"bob", false, false}, {"", false, false}} {
		v, err := acc.Authorizer().Viewer(as(tc.user))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.MayReceive(fmt.Sprintf("builders/%d", release.Id)); got != tc.release {
			t.Errorf("%q receives release's events: %v", tc.user, got)
		}
		if !v.MayReceive(fmt.Sprintf("builders/%d", pub.Id)) || !v.MayReceive("") {
			t.Errorf("%q refused pub's or master events", tc.user)
		}
		if got := acc.Can(as(tc.user), "force", "forceschedulers/f/builders/pub"); got != tc.ctrl {
			t.Errorf("%q may force: %v", tc.user, got)
		}
		if got := acc.Can(as(tc.user), "pause", "workers/w"); got != tc.ctrl {
			t.Errorf("%q may pause: %v", tc.user, got)
		}
	}
}

// TestWrongWebLoginsDoNotFloodTheLog: a stranger's 200 wrong logins at one
// instant (the refusal budget's clock stands still) log the source's burst
// of lines (internal/droplog) and are all counted in
// buildmaster_logins_refused_total{listener="www"}.
func TestWrongWebLoginsDoNotFloodTheLog(t *testing.T) {
	log, logs := testkit.NewLogs()
	m := mastertest.Start(t, builders+viewRules, "", log, mastertest.RefusalsStandStill)
	c := newClient(t, m)
	for i := range 200 { // a name each: the address's budget of guesses (30) is spent
		if code, _ := c.login(fmt.Sprint("user", i), "wrong"); code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Fatalf("wrong login: %d", code)
		}
	}
	if n := strings.Count(logs.String(), "web login refused"); n != droplog.DefaultSourceBurst {
		t.Errorf("200 wrong logins logged %d lines, want %d", n, droplog.DefaultSourceBurst)
	}
	if strings.Contains(logs.String(), "wrong") {
		t.Error("the password is in the log")
	}
	var n float64
	for _, reason := range []string{"wrong_credentials", "rate_limited"} {
		n += testutil.ToFloat64(m.RT.Stats.LoginsRefused.WithLabelValues("www", reason))
	}
	if n != 200 {
		t.Errorf("buildmaster_logins_refused_total{listener=www} = %v, want 200", n)
	}
}

// TestAuthzRefusalsDoNotFloodTheLog: control requests with a user's API
// token that the authz rules refuse, repeated at one instant of the
// refusal budget's clock, log their source's burst of lines (from= names
// it) and are all refused.
func TestAuthzRefusalsDoNotFloodTheLog(t *testing.T) {
	log, logs := testkit.NewLogs()
	m := mastertest.Start(t, builders+`
www:
  auth: {type: userpass}
  authz:
    roles: [{from: username, role: admins, users: [dave]}]
    allow: [{endpoint: control, role: admins}]
`, "", log, mastertest.RefusalsStandStill)
	if _, err := userReq(t, m, &messages.UserRequest{Op: messages.UserOp_USER_OP_ADD,
		Info: []*messages.UserAttrs{{Attrs: map[string]string{"git": "Eve <e@x>"}}}}); err != nil {
		t.Fatal(err)
	}
	tok, err := ask.Ask[*messages.ApiTokenResponse](context.Background(), m.RT.System.Root, actor.NewPID(m.RT.System.Address(), paths.Users),
		&messages.ApiTokenRequest{Token: mastertest.Token, Op: messages.ApiTokenOp_API_TOKEN_OP_CREATE, User: "Eve <e@x>", Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 * droplog.DefaultSourceBurst {
		res, err := m.RT.System.Root.RequestFuture(m.PID, &messages.GetTreeRequest{Token: tok.GetSecret()}, testkit.DefaultTimeout).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ce, ok := res.(*messages.ControlError); !ok || ce.GetCode() != messages.ControlErrorCode_CONTROL_ERROR_CODE_PERMISSION_DENIED {
			t.Fatalf("reply to a token authz refuses: %v", res)
		}
	}
	n := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="control request refused by authz"`) {
			n++
			if !strings.Contains(l, " from=") || !strings.Contains(l, " user=") {
				t.Errorf("a refusal without its source or user: %s", l)
			}
		}
	}
	if n != droplog.DefaultSourceBurst {
		t.Errorf("%d refused requests logged %d lines, want %d:\n%s", 3*droplog.DefaultSourceBurst, n, droplog.DefaultSourceBurst, logs)
	}
}
