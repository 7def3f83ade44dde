package ui

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeaderUser: the header offers "Log in" (back to the page) to
// anonymous when a login page exists, shows the user and "Log out" to a
// session, the name alone to a proxy's user, and nothing without Options.User.
func TestHeaderUser(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name      string
		user      *User
		want, not []string
	}{
		{"no users", nil, nil, []string{`id="login-link"`, `id="user"`}},
		{"anonymous", &User{CanLogIn: true}, []string{`<a id="login-link" href="/auth/login?redirect=%2fworkers">Log in</a>`}, []string{`id="user"`}},
		{"session", &User{Name: "alice", CanLogOut: true, CanLogIn: true},
			[]string{`<span id="user">alice</span> <a id="logout" href="/auth/logout">Log out</a>`}, []string{`id="login-link"`}},
		{"proxy", &User{Name: "bob"}, []string{`<span id="user">bob</span></span>`}, []string{`id="logout"`, `id="login-link"`}},
	} {
		u := newUI(t, f.store, newRecorder(), func(o *Options) {
			if tc.user != nil {
				o.User = func(*http.Request) User { return *tc.user }
			}
		})
		body := get(t, u, "/workers").Body.String()
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the page lacks %s:\n%s", tc.name, w, body[:min(len(body), 1500)])
			}
		}
		for _, n := range tc.not {
			if strings.Contains(body, n) {
				t.Errorf("%s: the page shows %s", tc.name, n)
			}
		}
	}
}
