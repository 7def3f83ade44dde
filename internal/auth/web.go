package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/loginlimit"
	"github.com/buildmaster/buildmaster/internal/users/password"
	"github.com/buildmaster/buildmaster/messages"
)

// Directory is where web auth finds what is not in the config: the users
// table's web users and API tokens. Its answers must reflect the state of
// the moment, so that a removed user loses access on the next request.
type Directory interface {
	// Password returns the stored password hash and email of the user
	// whose web username is username.
	Password(username string) (hash, email string, ok bool)
	// Exists says whether username is still a web user of the table.
	Exists(username string) bool
	// Token returns who holds the API token whose SHA-256 (hex) is sum.
	Token(sum string) (Identity, bool)
}

// WebOptions configure Web.
type WebOptions struct {
	// Config returns the www config in force, read on each request.
	Config func() *messages.WwwConfig
	// Directory answers for the users table; nil has no users and tokens.
	Directory Directory
	// AdminToken is the master's admin token ("" admits nobody as admin).
	AdminToken string
	Hasher     *password.Hasher
	Limiter    *loginlimit.Limiter
	// Sessions keeps the web logins (required).
	Sessions *Sessions
	// Client makes the OAuth2 calls (token, user info); nil means a client
	// with a 10s timeout.
	Client *http.Client
	Log    *slog.Logger
	// Refusals logs refused logins within its budget (share the master's);
	// nil means one of its own, on Log.
	Refusals *droplog.Log
	// Refused, when set, is told the reason of every refused login
	// (wrong_credentials, rate_limited), logged or not.
	Refused func(reason string)
}

// Web authenticates the requests of the www listener: the admin token or a
// user's API token (Authorization: Bearer), a session cookie, or a trusted
// proxy's header; and serves the login flow under /auth/ (Routes).
type Web struct {
	o     WebOptions
	ht    htpasswdCache
	oauth *oauthStates
}

// NewWeb returns the web authentication of o.
func NewWeb(o WebOptions) *Web {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Limiter == nil {
		o.Limiter = loginlimit.New(loginlimit.Options{})
	}
	if o.Refusals == nil {
		o.Refusals = droplog.New(o.Log, droplog.Options{})
	}
	if o.Refused == nil {
		o.Refused = func(string) {}
	}
	return &Web{o: o, oauth: newOAuthStates()}
}

func (w *Web) auth() *messages.WwwAuthConfig { return w.o.Config().GetAuth() }

// Enabled says whether users log in (www.auth is not none).
func (w *Web) Enabled() bool {
	t := w.auth().GetType()
	return t != messages.WwwAuthType_WWW_AUTH_TYPE_UNSPECIFIED && t != messages.WwwAuthType_WWW_AUTH_TYPE_NONE
}

// LoginOffered says whether /auth/login opens sessions (userpass,
// htpasswd, oauth2; remote_user logs in at the proxy).
func (w *Web) LoginOffered() bool {
	return w.Enabled() && w.auth().GetType() != messages.WwwAuthType_WWW_AUTH_TYPE_REMOTE_USER
}

// Middleware attaches the Caller of each request to its context (From),
// serves /auth/ (login, logout, the OAuth2 callback, who is logged in),
// and refuses a state-changing request that carries a session cookie from
// another origin (403).
func (w *Web) Middleware(next http.Handler) http.Handler {
	routes := w.routes()
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c := w.caller(r)
		r = r.WithContext(WithCaller(r.Context(), c))
		if strings.HasPrefix(r.URL.Path, "/auth/") {
			routes.ServeHTTP(rw, r)
			return
		}
		if c.Via == "session" && !safeMethod(r.Method) && !sameOrigin(r) {
			httpserve.WriteJSON(rw, http.StatusForbidden, map[string]string{"error": "cross-origin request refused"})
			return
		}
		next.ServeHTTP(rw, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin is false when the browser says the request comes from
// another site: an Origin whose host is not the request's, or
// Sec-Fetch-Site cross-site.
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// caller finds who r comes from.
func (w *Web) caller(r *http.Request) Caller {
	if token, ok := Bearer(r.Header.Get("Authorization")); ok {
		c := Caller{Token: token}
		if Equal(token, w.o.AdminToken) {
			c.Name, c.Admin = AdminName, true
			return c
		}
		if w.o.Directory != nil {
			sum := sha256.Sum256([]byte(token))
			if who, ok := w.o.Directory.Token(hex.EncodeToString(sum[:])); ok {
				who.Via = "token"
				c.set(who)
			}
		}
		return c
	}
	a := w.auth()
	if a.GetType() == messages.WwwAuthType_WWW_AUTH_TYPE_REMOTE_USER {
		if name := r.Header.Get(remoteHeader(a)); name != "" && trustedPeer(a, r.RemoteAddr) {
			var c Caller
			c.set(Identity{Username: name, Via: "remote_user"})
			return c
		}
	}
	if who, ok := w.o.Sessions.Lookup(r); ok && w.stillValid(who) {
		var c Caller
		c.set(who)
		return c
	}
	return Caller{}
}

// stillValid says whether a session's user is still one the config (or
// the users table) lets in: a removed user's sessions prove nothing.
func (w *Web) stillValid(who Identity) bool {
	a := w.auth()
	switch a.GetType() {
	case messages.WwwAuthType_WWW_AUTH_TYPE_USERPASS:
		if len(a.GetUsers()) > 0 {
			return slices.ContainsFunc(a.GetUsers(), func(u *messages.WwwUserConfig) bool { return u.GetUsername() == who.Username })
		}
		return w.o.Directory != nil && w.o.Directory.Exists(who.Username)
	case messages.WwwAuthType_WWW_AUTH_TYPE_HTPASSWD:
		f, err := w.ht.load(a.GetFile())
		if err != nil {
			return false
		}
		_, ok := f.Users()[who.Username]
		return ok
	case messages.WwwAuthType_WWW_AUTH_TYPE_OAUTH2:
		return true
	}
	return false
}

func (c *Caller) set(who Identity) {
	c.Name, c.Email, c.Groups, c.Via = who.Username, who.Email, who.Groups, who.Via
}

func remoteHeader(a *messages.WwwAuthConfig) string {
	if h := a.GetHeader(); h != "" {
		return h
	}
	return "Remote-User"
}

// trustedPeer says whether remote (host:port) is one of the trusted proxies.
func trustedPeer(a *messages.WwwAuthConfig, remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range a.GetTrustedProxies() {
		if pre, err := ParseProxy(p); err == nil && pre.Contains(addr) {
			return true
		}
	}
	return false
}

// ParseProxy parses a trusted proxy (www.auth.trusted_proxies): an
// address, or a CIDR network (masked).
func ParseProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q: want an address or a network (10.0.0.0/8)", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// routes serves the login flow.
func (w *Web) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/login", w.login)
	mux.HandleFunc("POST /auth/login", w.login)
	mux.HandleFunc("GET /auth/logout", w.logout)
	mux.HandleFunc("POST /auth/logout", w.logout)
	mux.HandleFunc("GET /auth/callback", w.callback)
	mux.HandleFunc("GET /auth/user", w.user)
	return mux
}

// user answers who is logged in, as Buildbot's /config does:
// {"user": {"anonymous": true}} or {"user": {"username", "email", "groups"}}.
func (w *Web) user(rw http.ResponseWriter, r *http.Request) {
	httpserve.WriteJSON(rw, http.StatusOK, map[string]any{"user": UserJSON(From(r.Context()))})
}

// UserJSON is the user of Buildbot's /config.
func UserJSON(c Caller) map[string]any {
	if c.Name == "" {
		return map[string]any{"anonymous": true}
	}
	return map[string]any{"username": c.Name, "email": c.Email, "groups": c.Groups}
}

// errLogin is all a failed login says: never which of user or password
// was wrong.
const errLogin = "wrong user name or password"

func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	a := w.auth()
	redirect := localRedirect(r.FormValue("redirect"))
	switch a.GetType() {
	case messages.WwwAuthType_WWW_AUTH_TYPE_OAUTH2:
		w.oauthStart(rw, r, a.GetOauth2(), redirect)
		return
	case messages.WwwAuthType_WWW_AUTH_TYPE_USERPASS, messages.WwwAuthType_WWW_AUTH_TYPE_HTPASSWD:
	default:
		http.Redirect(rw, r, orRoot(redirect), http.StatusSeeOther)
		return
	}
	user, pass, basic := r.BasicAuth()
	if r.Method == http.MethodPost {
		if !sameOrigin(r) {
			httpserve.WriteJSON(rw, http.StatusForbidden, map[string]string{"error": "cross-origin request refused"})
			return
		}
		user, pass = r.PostFormValue("username"), r.PostFormValue("password")
	} else if !basic {
		loginForm(rw, http.StatusOK, redirect, "")
		return
	}
	if ok, wait := w.o.Limiter.Attempt(user, r.RemoteAddr); !ok {
		w.o.Refused("rate_limited")
		w.o.Refusals.Refused(r.RemoteAddr, "web login refused: too many failed logins", slog.String("user", droplog.Text(user)),
			slog.Duration("retry_after", wait))
		// Whole seconds, rounded up, as the msgpack worker listener's 429.
		rw.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		w.refuse(rw, r, http.StatusTooManyRequests, "too many failed logins; try again later", redirect)
		return
	}
	who, ok := w.check(r.Context(), a, user, pass)
	if !ok {
		w.o.Refused("wrong_credentials")
		w.o.Refusals.Refused(r.RemoteAddr, "web login refused", slog.String("user", droplog.Text(user)))
		w.refuse(rw, r, http.StatusUnauthorized, errLogin, redirect)
		return
	}
	w.o.Limiter.Succeeded(user, r.RemoteAddr)
	if !w.startSession(rw, r, who, a) {
		return
	}
	w.o.Log.Info("web login", slog.String("user", user), slog.String("peer", r.RemoteAddr))
	if r.Method == http.MethodPost || redirect != "" {
		http.Redirect(rw, r, orRoot(redirect), http.StatusSeeOther)
		return
	}
	httpserve.WriteJSON(rw, http.StatusOK, map[string]any{"user": UserJSON(Caller{Name: who.Username, Email: who.Email, Groups: who.Groups})})
}

// startSession opens who's session; when it cannot, it answers 503 and
// reports false.
func (w *Web) startSession(rw http.ResponseWriter, r *http.Request, who Identity, a *messages.WwwAuthConfig) bool {
	if err := w.o.Sessions.Start(rw, r, who, sessionTTL(a)); err != nil {
		w.o.Log.Error("web login: cannot open the session", slog.String("user", who.Username), slog.Any("error", err))
		httpserve.WriteJSON(rw, http.StatusServiceUnavailable, map[string]string{"error": "cannot open a session now; try again later"})
		return false
	}
	return true
}

func (w *Web) refuse(rw http.ResponseWriter, r *http.Request, code int, msg, redirect string) {
	if r.Method == http.MethodPost {
		loginForm(rw, code, redirect, msg)
		return
	}
	if code == http.StatusUnauthorized {
		rw.Header().Set("WWW-Authenticate", `Basic realm="buildmaster"`)
	}
	httpserve.WriteJSON(rw, code, map[string]string{"error": msg})
}

func sessionTTL(a *messages.WwwAuthConfig) time.Duration {
	if d := a.GetSessionTtl().AsDuration(); d > 0 {
		return d
	}
	return DefaultSessionTTL
}

// check verifies user's password against the config's users, the users
// table or the htpasswd file.
func (w *Web) check(ctx context.Context, a *messages.WwwAuthConfig, user, pass string) (Identity, bool) {
	if user == "" || len(user) > 200 {
		return Identity{}, false
	}
	who := Identity{Username: user}
	switch {
	case a.GetType() == messages.WwwAuthType_WWW_AUTH_TYPE_HTPASSWD:
		f, err := w.ht.load(a.GetFile())
		if err != nil {
			w.o.Log.Error("htpasswd file", slog.Any("error", err))
			return Identity{}, false
		}
		ok, err := f.Verify(ctx, w.o.Hasher, user, pass)
		return who, ok && err == nil
	case len(a.GetUsers()) > 0:
		ok := false
		for _, u := range a.GetUsers() {
			// Every entry is compared, so that time says nothing of which matched.
			if Equal(user, u.GetUsername()) && Equal(pass, u.GetPassword()) {
				ok, who.Email, who.Groups = true, u.GetEmail(), u.GetGroups()
			}
		}
		return who, ok
	default:
		hash, email := "", ""
		if w.o.Directory != nil {
			hash, email, _ = w.o.Directory.Password(user)
		}
		ok, err := w.o.Hasher.Verify(ctx, hash, pass) // "" checks a dummy: the same time
		who.Email = email
		return who, ok && err == nil && hash != ""
	}
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && !sameOrigin(r) {
		httpserve.WriteJSON(rw, http.StatusForbidden, map[string]string{"error": "cross-origin request refused"})
		return
	}
	if err := w.o.Sessions.End(rw, r); err != nil {
		w.o.Log.Error("web logout: cannot end the session", slog.Any("error", err))
		httpserve.WriteJSON(rw, http.StatusServiceUnavailable, map[string]string{"error": "cannot log out now; try again later"})
		return
	}
	http.Redirect(rw, r, orRoot(localRedirect(r.FormValue("redirect"))), http.StatusSeeOther)
}

// localRedirect keeps a redirect target only when it is a path of this
// site ("/x", not "//host" or "http://host"). Control characters and
// backslashes are refused anywhere: browsers drop tabs and newlines from
// a URL and read '\\' as '/', so "/\t/host" would leave the site.
func localRedirect(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") ||
		strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return ""
	}
	return s
}

func orRoot(s string) string {
	if s == "" {
		return "/"
	}
	return s
}

// formTmpl is parsed on first use: every process that links this package,
// a one-second CLI call too, would parse it at start otherwise.
var formTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in – buildmaster</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Log in</h1>
{{if .Error}}<p id="login-error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/auth/login">
<input type="hidden" name="redirect" value="{{.Redirect}}">
<p><label>User name <input id="username" name="username" autocomplete="username" required></label></p>
<p><label>Password <input id="password" name="password" type="password" autocomplete="current-password" required></label></p>
<p><button id="login" type="submit">Log in</button></p>
</form></main></body></html>
`))
})

func loginForm(rw http.ResponseWriter, code int, redirect, msg string) {
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(code)
	_ = formTmpl().Execute(rw, struct{ Redirect, Error string }{redirect, msg})
}

// htpasswdCache keeps the htpasswd file loaded, reloading it when it
// changes on disk.
type htpasswdCache struct {
	mu    sync.Mutex
	path  string
	mtime time.Time
	size  int64
	f     *password.Htpasswd
}

func (c *htpasswdCache) load(path string) (*password.Htpasswd, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil && c.path == path && c.mtime.Equal(fi.ModTime()) && c.size == fi.Size() {
		return c.f, nil
	}
	f, err := password.LoadHtpasswd(path)
	if err != nil {
		return nil, err
	}
	c.path, c.mtime, c.size, c.f = path, fi.ModTime(), fi.Size(), f
	return f, nil
}
