package users_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/worker"
)

// fakeProvider is an OAuth2/OIDC provider over real HTTP, as GitHub or a
// generic OIDC server answers: /authorize redirects back with a code (for
// the user the test says is logged in there), /token exchanges it once for
// an access token, checking the client's secret and the PKCE verifier,
// and /user answers who holds the token.
type fakeProvider struct {
	t        *testing.T
	srv      *httptest.Server
	callback string // the redirect_uri registered for the client

	mu     sync.Mutex
	user   map[string]any // who is logged in at the provider
	deny   bool           // the user refuses the consent screen
	codes  map[string]pendingCode
	tokens map[string]map[string]any
}

type pendingCode struct {
	challenge string
	user      map[string]any
}

const (
	oauthClientID     = "bm-client"
	oauthClientSecret = "bm-client-secret-9f1c"
)

func newFakeProvider(t *testing.T) *fakeProvider {
	p := &fakeProvider{t: t, codes: map[string]pendingCode{}, tokens: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /user", p.userinfo)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeProvider) loggedIn(user map[string]any, deny bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user, p.deny = user, deny
}

func (p *fakeProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != oauthClientID || q.Get("redirect_uri") != p.callback ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" ||
		q.Get("scope") != "read:user" {
		http.Error(w, "bad authorize request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	back := url.Values{"state": {q.Get("state")}}
	if p.deny {
		back.Set("error", "access_denied")
	} else {
		code := fmt.Sprintf("code-%d", len(p.codes)+1)
		p.codes[code] = pendingCode{challenge: q.Get("code_challenge"), user: p.user}
		back.Set("code", code)
	}
	http.Redirect(w, r, p.callback+"?"+back.Encode(), http.StatusFound)
}

func (p *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c, found := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code")) // a code is good once
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	switch {
	case id != oauthClientID || secret != oauthClientSecret:
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
	case !found || r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != p.callback:
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		http.Error(w, `{"error":"invalid_grant","error_description":"PKCE verifier"}`, http.StatusBadRequest)
	default:
		tok := fmt.Sprintf("access-%d", len(p.tokens)+1)
		p.tokens[tok] = c.user
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 3600})
	}
}

func (p *fakeProvider) userinfo(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	u, ok := p.tokens[tok]
	p.mu.Unlock()
	if !ok {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(u)
}

// follow GETs u with a client that does not follow redirects and returns
// the status and where it redirects.
func follow(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// oauthLogin runs the browser's side of an OAuth2 login up to the
// provider's redirect back, and returns the callback URL it gives.
func oauthLogin(t *testing.T, p *fakeProvider, c *client) string {
	t.Helper()
	code, toProvider := follow(t, c.hc, c.base+"/auth/login?redirect=/builders")
	if code != http.StatusFound || !strings.HasPrefix(toProvider, p.srv.URL+"/authorize?") {
		t.Fatalf("login: %d to %q", code, toProvider)
	}
	code, back := follow(t, c.hc, toProvider)
	if code != http.StatusFound {
		t.Fatalf("provider: %d %q", code, back)
	}
	return back
}

// TestOAuth2Login: the full OAuth2/OIDC login against a provider over real
// HTTP (authorize redirect with state and PKCE, token exchange with the
// client's secret and verifier, user info): the user the provider names
// gets a session with the provider's groups as roles, so an admin may
// force and another user is refused with the role's name; a forged or
// replayed state, and a refusal at the provider, open no session.
func TestOAuth2Login(t *testing.T) {
	p := newFakeProvider(t)
	m := mastertest.StartFunc(t, func(www string) string {
		p.callback = "http://" + www + "/auth/callback"
		return builders + fmt.Sprintf(`
www:
  auth:
    type: oauth2
    oauth2: {auth_url: %[1]s/authorize, token_url: %[1]s/token, userinfo_url: %[1]s/user, client_id: %[2]s,
             client_secret: %[3]s, scopes: ["read:user"], redirect_url: %[4]s}
  authz:
    roles: [{from: groups}]
    allow: [{endpoint: control, role: admins}]
`, p.srv.URL, oauthClientID, oauthClientSecret, p.callback)
	}, "", nil)

	for _, tc := range []struct {
		user      map[string]any
		name      string
		forceCode int
	}{
		{map[string]any{"login": "octocat", "email": "o@x", "groups": []string{"admins"}}, "octocat", http.StatusOK},
		{map[string]any{"sub": "1234", "preferred_username": "mallory", "groups": []string{"devs"}}, "mallory", http.StatusForbidden},
	} {
		p.loggedIn(tc.user, false)
		c := newClient(t, m)
		back := oauthLogin(t, p, c)
		if code, to := follow(t, c.hc, back); code != http.StatusSeeOther || to != "/builders" {
			t.Fatalf("%s: callback %d to %q", tc.name, code, to)
		}
		if code, body := c.do(http.MethodGet, "/auth/user", ""); code != 200 || !strings.Contains(body, `"username":"`+tc.name+`"`) {
			t.Fatalf("%s: /auth/user %d %s", tc.name, code, body)
		}
		code, body := c.force("pub")
		if code != tc.forceCode || code == http.StatusForbidden && !strings.Contains(body, "you need to have role 'admins'") {
			t.Fatalf("%s forces: %d %s", tc.name, code, body)
		}
		// The same callback again: its state was used, no second session.
		again := newClient(t, m)
		if code, _ := follow(t, again.hc, back); code != http.StatusBadRequest {
			t.Fatalf("%s: replayed callback: %d", tc.name, code)
		}
		if _, body := again.do(http.MethodGet, "/auth/user", ""); !strings.Contains(body, `"anonymous":true`) {
			t.Fatalf("replayed callback opened a session: %s", body)
		}
	}

	// A state the master never issued.
	p.loggedIn(map[string]any{"login": "octocat", "groups": []string{"admins"}}, false)
	forged := newClient(t, m)
	if code, _ := follow(t, forged.hc, forged.base+"/auth/callback?code=code-1&state=forged"); code != http.StatusBadRequest {
		t.Fatalf("forged state: %d", code)
	}
	// The user says no at the provider.
	p.loggedIn(map[string]any{"login": "octocat", "groups": []string{"admins"}}, true)
	denied := newClient(t, m)
	if code, _ := follow(t, denied.hc, oauthLogin(t, p, denied)); code != http.StatusUnauthorized {
		t.Fatalf("denied at the provider: %d", code)
	}
	for _, c := range []*client{forged, denied} {
		if code, body := c.force("pub"); code != http.StatusForbidden {
			t.Fatalf("force without a login: %d %s", code, body)
		}
	}
}

// TestHtpasswdLogin: users of an htpasswd file log in over HTTP (Basic, as
// Buildbot's UI, and the form); the admin may force, another user is
// refused; a user deleted from the file is refused on the next request.
func TestHtpasswdLogin(t *testing.T) {
	file := filepath.Join(t.TempDir(), "htpasswd")
	line := func(user, pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return user + ":" + string(h) + "\n"
	}
	if err := os.WriteFile(file, []byte(line("alice", "alice-pw")+line("bob", "bob-pw")), 0o600); err != nil {
		t.Fatal(err)
	}
	m := mastertest.Start(t, builders+`
www:
  auth: {type: htpasswd, file: `+file+`}
  authz:
    roles: [{from: username, role: admins, users: [alice]}]
    allow: [{endpoint: control, role: admins}]
`, "", nil)
	alice, bob := newClient(t, m), newClient(t, m)
	if code, body := alice.login("alice", "alice-pw"); code != 200 {
		t.Fatalf("alice: %d %s", code, body)
	}
	if code, body := alice.force("pub"); code != 200 {
		t.Fatalf("alice forces: %d %s", code, body)
	}
	if code, body := bob.do(http.MethodPost, "/auth/login", url.Values{"username": {"bob"}, "password": {"bob-pw"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", bob.base); code != http.StatusSeeOther {
		t.Fatalf("bob's form login: %d %s", code, body)
	}
	if code, body := bob.force("pub"); code != http.StatusForbidden || !strings.Contains(body, "you need to have role 'admins'") {
		t.Fatalf("bob forces: %d %s", code, body)
	}
	if code, _ := newClient(t, m).login("alice", "bob-pw"); code != http.StatusUnauthorized {
		t.Fatalf("alice with bob's password: %d", code)
	}
	if err := os.WriteFile(file, []byte(line("bob", "bob-pw")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := alice.force("pub"); code != http.StatusForbidden {
		t.Fatalf("alice, deleted from the file, forces: %d %s", code, body)
	}
	if _, body := alice.do(http.MethodGet, "/auth/user", ""); !strings.Contains(body, `"anonymous":true`) {
		t.Fatalf("alice, deleted from the file: %s", body)
	}
}

// from returns a client whose connections come from the loopback address
// ip (127.0.0.2 …: Linux routes all of 127/8 to lo).
func from(t *testing.T, m *master.Master, ip string) *client {
	c := newClient(t, m)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c.hc.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

// TestRemoteUser: the header of a trusted proxy names the user, with the
// roles the rules give that name; the same header from any other address
// proves nothing.
func TestRemoteUser(t *testing.T) {
	m := mastertest.Start(t, builders+`
www:
  auth: {type: remote_user, header: X-Forwarded-User, trusted_proxies: [127.0.0.1]}
  authz:
    roles: [{from: username, role: admins, users: [alice]}]
    allow: [{endpoint: control, role: admins}]
`, "", nil)
	proxy, stranger := newClient(t, m), from(t, m, "127.0.0.2")
	for _, tc := range []struct {
		c         *client
		user      string
		forceCode int
		who       string
	}{
		{proxy, "alice", http.StatusOK, `"username":"alice"`},
		{proxy, "bob", http.StatusForbidden, `"username":"bob"`},
		{stranger, "alice", http.StatusForbidden, `"anonymous":true`},
	} {
		if _, body := tc.c.do(http.MethodGet, "/auth/user", "", "X-Forwarded-User", tc.user); !strings.Contains(body, tc.who) {
			t.Errorf("%s via %p: /auth/user %s, want %s", tc.user, tc.c, body, tc.who)
		}
		code, body := tc.c.do(http.MethodPost, "/api/v2/forceschedulers/f", `{"jsonrpc":"2.0","method":"force","params":{"builderNames":["pub"]},"id":1}`,
			"Content-Type", "application/json", "Origin", tc.c.base, "X-Forwarded-User", tc.user)
		if code != tc.forceCode {
			t.Errorf("%s (%s) forces: %d %s", tc.user, tc.who, code, body)
		}
	}
	// Another header than the configured one is not read.
	if _, body := proxy.do(http.MethodGet, "/auth/user", "", "Remote-User", "alice"); !strings.Contains(body, `"anonymous":true`) {
		t.Errorf("Remote-User read in place of X-Forwarded-User: %s", body)
	}
}

// TestLoginLimitsAndRoleLoss: wrong passwords are limited per user and
// address (another address may still try that user, and another user
// from that address may still log in) and per address (many users from
// one address); refusals never say which of user or password was wrong,
// in Basic or in the form; a role taken away by a reconfig is refused on
// the next request of a session opened before.
func TestLoginLimitsAndRoleLoss(t *testing.T) {
	cfg := func(admins string) string {
		return builders + `
www:
  auth: {type: userpass, users: [{username: alice, password: alice-pw}, {username: bob, password: bob-pw}]}
  authz:
    roles: [{from: username, role: admins, users: [` + admins + `]}]
    allow: [{endpoint: control, role: admins}]
`
	}
	m := mastertest.Start(t, cfg("alice, bob"), "", nil)
	one, two, three := newClient(t, m), from(t, m, "127.0.0.2"), from(t, m, "127.0.0.3")

	form := func(c *client, user, pw string) (int, string) {
		return c.do(http.MethodPost, "/auth/login", url.Values{"username": {user}, "password": {pw}}.Encode(),
			"Content-Type", "application/x-www-form-urlencoded", "Origin", c.base)
	}
	_, wrongPw := form(one, "bob", "nope")
	_, wrongUser := form(one, "nobody", "bob-pw")
	if !strings.Contains(wrongPw, "wrong user name or password") || wrongPw != wrongUser {
		t.Fatalf("the form tells which was wrong:\n%s\n---\n%s", wrongPw, wrongUser)
	}
	code := 0
	for range 10 {
		if code, _ = one.login("bob", "guess"); code == http.StatusTooManyRequests {
			break
		}
	}
	if code != http.StatusTooManyRequests {
		t.Fatalf("bob guessed from 127.0.0.1: last %d, want 429", code)
	}
	if code, body := form(one, "bob", "bob-pw"); code != http.StatusTooManyRequests || !strings.Contains(body, "too many failed logins") {
		t.Fatalf("bob's right password, limited: %d", code)
	}
	if code, _ := two.login("bob", "bob-pw"); code != 200 {
		t.Fatalf("bob from another address: %d", code)
	}
	if code, _ := one.login("alice", "alice-pw"); code != 200 {
		t.Fatalf("alice from bob's guessing address: %d", code)
	}
	// One address trying many users.
	code = 0
	for i := 0; code != http.StatusTooManyRequests && i < 100; i++ {
		code, _ = three.login(fmt.Sprintf("user%d", i), "x")
	}
	if code != http.StatusTooManyRequests {
		t.Fatal("100 users guessed from one address: never 429")
	}
	if code, _ := three.login("alice", "alice-pw"); code != http.StatusTooManyRequests {
		t.Fatalf("alice from the guessing address: %d", code)
	}

	// Role loss: alice's session, opened as an admin, forces; the reconfig
	// takes her role; her next request is refused, bob's still passes.
	if code, body := one.force("pub"); code != 200 {
		t.Fatalf("alice forces: %d %s", code, body)
	}
	mastertest.Reconfig(t, m, cfg("bob"))
	if code, body := one.force("pub"); code != http.StatusForbidden || !strings.Contains(body, "you need to have role 'admins'") {
		t.Fatalf("alice forces after losing her role: %d %s", code, body)
	}
	if code, body := two.force("pub"); code != 200 {
		t.Fatalf("bob forces: %d %s", code, body)
	}
}

// wsEvent is an event of /ws.
type wsEvent struct {
	K string          `json:"k"`
	M json.RawMessage `json:"m"`
}

// TestWebSocketHidesBuildsOfOthers: over a real /ws socket, logged in by
// the session cookie, a user who may not view a builder's builds gets no
// event about them (no build, step, log or request), while an admin gets
// both builders' events.
func TestWebSocketHidesBuildsOfOthers(t *testing.T) {
	m := mastertest.Start(t, builders+viewRules, "", nil)
	runWorker(t, m, "w", "pw")
	ids := map[string]uint64{}
	for _, b := range []string{"pub", "release"} {
		var page struct{ Builders []struct{ Builderid uint64 } }
		code, body := newClient(t, m).do(http.MethodGet, "/api/v2/builders/"+b, "")
		if err := json.Unmarshal([]byte(body), &page); err != nil || code != 200 || len(page.Builders) != 1 {
			t.Fatalf("builder %s: %d %s", b, code, body)
		}
		ids[b] = page.Builders[0].Builderid
	}
	alice, bob := newClient(t, m), newClient(t, m)
	alice.login("alice", "a")
	bob.login("bob", "b")
	aliceWS, bobWS := dialWS(t, alice), dialWS(t, bob)

	// release first: an event of it for bob would come before pub's.
	if code, body := alice.force("release"); code != 200 {
		t.Fatalf("force release: %d %s", code, body)
	}
	aliceWS.waitFinished(ids["release"])
	if code, body := alice.force("pub"); code != 200 {
		t.Fatalf("force pub: %d %s", code, body)
	}
	aliceWS.waitFinished(ids["pub"])
	got := bobWS.waitFinished(ids["pub"])
	release := releaseEvents(aliceWS.got, ids["release"])
	if len(release) < 4 {
		t.Fatalf("alice saw %d things of release's build: %v", len(release), release)
	}
	seen := map[string]bool{}
	for _, ev := range got {
		if release[entity(ev.K)] {
			t.Errorf("bob got an event of release: %s %s", ev.K, ev.M)
		}
		seen[strings.SplitN(ev.K, "/", 2)[0]] = true
	}
	for _, kind := range []string{"builds", "steps", "logs", "buildrequests"} {
		if !seen[kind] {
			t.Errorf("bob got no %s events of pub: %v", kind, seen)
		}
	}
}

// entity is the "kind/ID" an event key ("builds/12/new") is about.
func entity(key string) string {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) < 2 {
		return key
	}
	return parts[0] + "/" + parts[1]
}

// releaseEvents returns the entities ("builds/3", "steps/9" …) of the
// builds, steps, logs and requests of builder among evs.
func releaseEvents(evs []wsEvent, builder uint64) map[string]bool {
	builds, steps, out := map[uint64]bool{}, map[uint64]bool{}, map[string]bool{}
	for _, ev := range evs {
		var m struct{ Builderid, Buildid, Stepid uint64 }
		_ = json.Unmarshal(ev.M, &m)
		kind := strings.SplitN(ev.K, "/", 2)[0]
		mine := false
		switch kind {
		case "builds":
			mine = m.Builderid == builder
			if mine {
				builds[m.Buildid] = true
			}
		case "buildrequests":
			mine = m.Builderid == builder
		case "steps":
			mine = builds[m.Buildid]
			if mine {
				steps[m.Stepid] = true
			}
		case "logs":
			mine = steps[m.Stepid]
		}
		if mine {
			out[entity(ev.K)] = true
		}
	}
	return out
}

// wsClient is one /ws connection and the events it has received.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	events chan wsEvent
	got    []wsEvent
}

func dialWS(t *testing.T, c *client) *wsClient {
	t.Helper()
	u, _ := url.Parse(c.base)
	hdr := http.Header{}
	for _, ck := range c.hc.Jar.Cookies(u) {
		hdr.Add("Cookie", ck.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.DefaultTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+u.Host+"/ws", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatal(err)
	}
	w := &wsClient{t: t, c: conn, events: make(chan wsEvent, 1024)}
	t.Cleanup(func() { conn.CloseNow() })
	go func() {
		defer close(w.events)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var ev wsEvent
			if json.Unmarshal(b, &ev) == nil && ev.K != "" {
				w.events <- ev
			}
		}
	}()
	for i, path := range []string{"builds/*/*", "steps/*/*", "logs/*/*", "buildrequests/*/*"} {
		msg := fmt.Sprintf(`{"cmd":"startConsuming","path":%q,"_id":%d}`, path, i+1)
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// waitFinished reads events until a build of builder finishes, and
// returns every event read so far.
func (w *wsClient) waitFinished(builderid uint64) []wsEvent {
	w.t.Helper()
	deadline := time.NewTimer(testkit.DefaultTimeout)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				w.t.Fatal("the socket closed")
			}
			w.got = append(w.got, ev)
			var m struct{ Builderid uint64 }
			_ = json.Unmarshal(ev.M, &m)
			if strings.HasPrefix(ev.K, "builds/") && strings.HasSuffix(ev.K, "/finished") && m.Builderid == builderid {
				return w.got
			}
		case <-deadline.C:
			w.t.Fatalf("no build of builder %d finished within %s; got %d events", builderid, testkit.DefaultTimeout, len(w.got))
		}
	}
}

// runWorker runs the buildworker in process as name until the test ends.
func runWorker(t *testing.T, m *master.Master, name, password string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Options{Master: m.WorkersAddr, Name: name, Password: password, Basedir: t.TempDir()})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}
