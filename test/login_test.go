package test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/buildmaster/buildmaster/internal/testkit/browser"
)

const loginConfig = `
workers: [{name: w1, password: pw1}]
builders:
  - {name: pub, workers: [w1], steps: [{shell: {command: ["true"]}}]}
schedulers: [{name: force, type: force, builders: [pub]}]
www:
  auth: {type: userpass, users: [{username: alice, password: alice-pw}, {username: bob, password: bob-pw}]}
  authz:
    roles: [{from: username, role: admins, users: [alice]}]
    allow: [{endpoint: control, role: admins}]
`

// sessionCookie returns the browser's session cookie for url.
func sessionCookie(t *testing.T, tab context.Context, url string) *network.Cookie {
	t.Helper()
	res := browser.Value(t, tab, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	})
	for _, c := range res.Cookies {
		if c.Name == "buildmaster_session" {
			return c
		}
	}
	return nil
}

// TestBrowserLogin drives Chromium through the login flow on a real
// master: anonymous sees no force button and a "Log in" link; the form
// refuses a wrong password and a wrong user with the same words; alice
// (admins) logs in, gets an HttpOnly, SameSite=Lax session cookie that
// page scripts cannot read, sees the force button and forces; after "Log
// out" the cookie she had, replayed, proves nothing. bob, logged in
// without the role, sees no force button and his page's own request to
// force is refused.
func TestBrowserLogin(t *testing.T) {
	bctx := browser.Start(t)
	m := startMaster(t, loginConfig)
	url := "http://" + m.www
	tab := browser.Tab(t, bctx)
	noForce := chromedp.Evaluate[bool](`document.querySelector("details.force") === null`)

	browser.Run(t, tab, chromedp.Navigate(url+"/builders/pub"), chromedp.WaitVisible(chromedp.ID("login-link")))
	if !browser.Value(t, tab, noForce) {
		t.Fatal("anonymous sees the force button")
	}

	login := func(user, pw string) {
		browser.Run(t, tab, chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SetValue(chromedp.ID("username"), user), chromedp.SetValue(chromedp.ID("password"), pw),
			chromedp.Click(chromedp.ID("login")))
	}
	var refusals []string
	for _, wrong := range [][2]string{{"alice", "bob-pw"}, {"mallory", "alice-pw"}} {
		browser.Run(t, tab, chromedp.Click(chromedp.ID("login-link")))
		login(wrong[0], wrong[1])
		browser.Run(t, tab, chromedp.WaitVisible(chromedp.ID("login-error")))
		refusals = append(refusals, browser.Value(t, tab, chromedp.Text(chromedp.ID("login-error"))))
		browser.Run(t, tab, chromedp.Navigate(url+"/builders/pub"), chromedp.WaitVisible(chromedp.ID("login-link")))
	}
	if refusals[0] != "wrong user name or password" || refusals[1] != refusals[0] {
		t.Fatalf("refusals %q", refusals)
	}
	if c := sessionCookie(t, tab, url); c != nil {
		t.Fatalf("a refused login set a session cookie: %+v", c)
	}

	// alice: back on the builder's page, with the button.
	browser.Run(t, tab, chromedp.Click(chromedp.ID("login-link")))
	login("alice", "alice-pw")
	browser.Run(t, tab, chromedp.WaitVisible(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.CSS("details.force")))
	if loc := browser.Value(t, tab, chromedp.Location()); loc != url+"/builders/pub" {
		t.Fatalf("after login: at %s", loc)
	}
	if who := browser.Value(t, tab, chromedp.Text(chromedp.ID("user"))); who != "alice" {
		t.Fatalf("the header shows %q", who)
	}
	c := sessionCookie(t, tab, url)
	if c == nil || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
		t.Fatalf("session cookie %+v", c)
	}
	if js := browser.Value(t, tab, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(js, c.Value) {
		t.Fatalf("a page script reads the session cookie: %q", js)
	}
	browser.Run(t, tab, chromedp.Click(chromedp.CSS(`details.force summary`)), chromedp.Click(chromedp.CSS(`details.force button`)),
		chromedp.WaitVisible(chromedp.CSS(`#flash:not(:empty)`)))
	if flash := browser.Value(t, tab, chromedp.Text(chromedp.ID("flash"))); !strings.HasSuffix(flash, ": done") {
		t.Fatalf("force: flash %q", flash)
	}
	m.waitAPI("/api/v2/buildrequests", `"buildrequestid":1`)
	replay := func(want string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+"/auth/user", nil)
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), want) {
			t.Fatalf("the cookie replayed: %s, want %s", b, want)
		}
	}
	replay(`"username":"alice"`)

	// Log out: the same cookie, replayed, is anonymous.
	browser.Run(t, tab, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-link")))
	replay(`"anonymous":true`)
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v2/forceschedulers/force",
		strings.NewReader(`{"jsonrpc":"2.0","method":"force","params":{"builderNames":["pub"]},"id":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", url)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	if resp, err := httpClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("force with the logged-out cookie: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// bob: logged in, without the role.
	browser.Run(t, tab, chromedp.Navigate(url+"/builders/pub"), chromedp.Click(chromedp.ID("login-link")))
	login("bob", "bob-pw")
	browser.Run(t, tab, chromedp.WaitVisible(chromedp.ID("logout")))
	if !browser.Value(t, tab, noForce) {
		t.Fatal("bob sees the force button")
	}
	status := browser.Value(t, tab, chromedp.Evaluate[float64](`fetch("/api/v2/forceschedulers/force", {method: "POST",
		headers: {"Content-Type": "application/json", "X-UI-Token": document.body.dataset.token},
		body: JSON.stringify({jsonrpc: "2.0", method: "force", params: {builderNames: ["pub"]}, id: 1})}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Fatalf("bob's page forces: HTTP %v", status)
	}
}
