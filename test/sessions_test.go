package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// sessionsConfig logs users in by password, sessions lasting ttl.
func sessionsConfig(ttl string) string {
	return `
www:
  auth: {type: userpass, session_ttl: ` + ttl + `, users: [{username: alice, password: alice-pw-1}]}
`
}

// login logs alice in with Basic credentials and returns her session
// cookie.
func (m *master) login() *http.Cookie {
	m.t.Helper()
	return m.loginAs("alice", "alice-pw-1")
}

// loginAs logs user in with Basic credentials and returns the session
// cookie.
func (m *master) loginAs(user, password string) *http.Cookie {
	m.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+m.www+"/auth/login", nil)
	req.SetBasicAuth(user, password)
	resp, err := httpClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie && resp.StatusCode == http.StatusOK {
			return c
		}
	}
	m.t.Fatalf("login: %s, cookies %v", resp.Status, resp.Cookies())
	return nil
}

// who returns the user c's session proves ("" for none).
func (m *master) who(c *http.Cookie) string {
	m.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+m.www+"/auth/user", nil)
	req.AddCookie(c)
	resp, err := httpClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		User struct {
			Username string `json:"username"`
		} `json:"user"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		m.t.Fatal(err)
	}
	return v.User.Username
}

// logout ends c's session.
func (m *master) logout(c *http.Cookie) {
	m.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.www+"/auth/logout", nil)
	req.AddCookie(c)
	resp, err := (&http.Client{Timeout: httpClient.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		m.t.Fatalf("logout: %s", resp.Status)
	}
}

// TestSessionsSurviveRestart: web sessions are in the master's state, so
// a restart (even a kill -9: a login is answered once it is durable)
// logs nobody out; a cookie logged out before the restart stays refused
// after it; a session keeps the expiry it was given at login, and ends
// at it after the restart; a logout after the restart ends the session.
func TestSessionsSurviveRestart(t *testing.T) {
	t.Parallel()
	m := startMaster(t, sessionsConfig("1h"))
	kept, out := m.login(), m.login()
	m.logout(out)
	if who := m.who(out); who != "" {
		t.Fatalf("a cookie logged out proves %q", who)
	}
	m.writeConfig(sessionsConfig("2s"))
	if stdout, stderr, code := m.cli("reconfig"); code != 0 {
		t.Fatalf("reconfig: %d\n%s%s", code, stdout, stderr)
	}
	short := m.login()

	m.signal(syscall.SIGKILL)
	m.wait()
	m.start(binary)
	if who := m.who(kept); who != "alice" {
		t.Fatalf("after a restart, alice's session proves %q", who)
	}
	if who := m.who(out); who != "" {
		t.Fatalf("after a restart, a cookie logged out before it proves %q", who)
	}
	testkit.Eventually(t, "the 2s session to expire after the restart", func() bool { return m.who(short) == "" })
	if who := m.who(kept); who != "alice" {
		t.Fatalf("alice's 1h session proves %q", who)
	}
	m.logout(kept)
	if who := m.who(kept); who != "" {
		t.Fatalf("alice's cookie, logged out after the restart, proves %q", who)
	}
}

// TestPasswordRotationEndsSessions: when a reconfig changes a web user's
// password, whether its secret was rotated in its provider (the config
// file unchanged) or the config itself changed, that user's sessions end
// before the reconfig answers; other users' sessions go on, and the new
// password logs in. (Buildbot keeps such sessions.)
func TestPasswordRotationEndsSessions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeSecret := func(v string) {
		if err := os.WriteFile(filepath.Join(dir, "alicepw"), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeSecret("alice-pw-1")
	cfg := func(bobPassword string) string {
		return fmt.Sprintf(`
secrets: [{type: dir, path: %s}]
www:
  auth: {type: userpass, users: [{username: alice, password: {secret: alicepw}}, {username: bob, password: %s}]}
`, dir, bobPassword)
	}
	m := startMaster(t, cfg("bob-pw-1"))
	reconfig := func() {
		t.Helper()
		if stdout, stderr, code := m.cli("reconfig"); code != 0 {
			t.Fatalf("reconfig: %d\n%s%s", code, stdout, stderr)
		}
	}
	alice, alice2, bob := m.loginAs("alice", "alice-pw-1"), m.loginAs("alice", "alice-pw-1"), m.loginAs("bob", "bob-pw-1")

	writeSecret("alice-pw-2")
	reconfig()
	for _, c := range []*http.Cookie{alice, alice2} {
		if who := m.who(c); who != "" {
			t.Fatalf("after alice's secret was rotated, her old session proves %q", who)
		}
	}
	if who := m.who(bob); who != "bob" {
		t.Fatalf("after alice's secret was rotated, bob's session proves %q", who)
	}
	alice = m.loginAs("alice", "alice-pw-2")

	m.writeConfig(cfg("bob-pw-2"))
	reconfig()
	if who := m.who(bob); who != "" {
		t.Fatalf("after bob's password changed in the config, his old session proves %q", who)
	}
	if who := m.who(alice); who != "alice" {
		t.Fatalf("after bob's password changed, alice's session proves %q", who)
	}
	if who := m.who(m.loginAs("bob", "bob-pw-2")); who != "bob" {
		t.Fatalf("bob's new password: a session proving %q", who)
	}
}
