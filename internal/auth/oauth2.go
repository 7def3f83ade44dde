package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/messages"
)

// oauthStateTTL is how long a browser has to come back from the provider.
const oauthStateTTL = 10 * time.Minute

// maxOAuthStates bounds the logins under way (each costs a few bytes).
const maxOAuthStates = 10000

// maxUserInfo bounds the provider's user info response.
const maxUserInfo = 1 << 20

// oauthStates are the OAuth2 logins under way: state → PKCE verifier and
// where to go after.
type oauthStates struct {
	mu sync.Mutex
	m  map[string]oauthPending
}

type oauthPending struct {
	verifier, redirect string
	expires            time.Time
}

func newOAuthStates() *oauthStates { return &oauthStates{m: map[string]oauthPending{}} }

func (s *oauthStates) add(p oauthPending) string {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	state := base64.RawURLEncoding.EncodeToString(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.m) >= maxOAuthStates {
		for k, v := range s.m {
			if now.After(v.expires) || len(s.m) >= maxOAuthStates {
				delete(s.m, k)
			}
		}
	}
	s.m[state] = p
	return state
}

// take returns and forgets the login of state, if it is under way.
func (s *oauthStates) take(state string) (oauthPending, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[state]
	delete(s.m, state)
	return p, ok && time.Now().Before(p.expires)
}

func oauthConfig(o *messages.OAuth2Config) *oauth2.Config {
	return &oauth2.Config{ClientID: o.GetClientId(), ClientSecret: o.GetClientSecret(), RedirectURL: o.GetRedirectUrl(),
		Scopes: o.GetScopes(), Endpoint: oauth2.Endpoint{AuthURL: o.GetAuthUrl(), TokenURL: o.GetTokenUrl()}}
}

// oauthStart sends the browser to the provider, with a state and a PKCE
// challenge that the callback checks.
func (w *Web) oauthStart(rw http.ResponseWriter, r *http.Request, o *messages.OAuth2Config, redirect string) {
	verifier := oauth2.GenerateVerifier()
	state := w.oauth.add(oauthPending{verifier: verifier, redirect: redirect, expires: time.Now().Add(oauthStateTTL)})
	http.Redirect(rw, r, oauthConfig(o).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback ends an OAuth2 login: it exchanges the code, reads the user
// info and opens the session.
func (w *Web) callback(rw http.ResponseWriter, r *http.Request) {
	a := w.auth()
	if a.GetType() != messages.WwwAuthType_WWW_AUTH_TYPE_OAUTH2 {
		httpserve.WriteJSON(rw, http.StatusNotFound, map[string]string{"error": "no OAuth2 login is configured"})
		return
	}
	p, ok := w.oauth.take(r.FormValue("state"))
	if !ok {
		httpserve.WriteJSON(rw, http.StatusBadRequest, map[string]string{"error": "unknown or expired login state; log in again"})
		return
	}
	if e := r.FormValue("error"); e != "" {
		httpserve.WriteJSON(rw, http.StatusUnauthorized, map[string]string{"error": "the provider refused the login"})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), oauth2.HTTPClient, w.o.Client), 30*time.Second)
	defer cancel()
	cfg := oauthConfig(a.GetOauth2())
	tok, err := cfg.Exchange(ctx, r.FormValue("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		w.o.Log.Warn("oauth2 login: token exchange failed", slog.Any("error", err))
		httpserve.WriteJSON(rw, http.StatusUnauthorized, map[string]string{"error": "the login could not be completed"})
		return
	}
	who, err := userInfo(ctx, cfg.Client(ctx, tok), a.GetOauth2().GetUserinfoUrl())
	if err != nil {
		w.o.Log.Warn("oauth2 login: user info", slog.Any("error", err))
		httpserve.WriteJSON(rw, http.StatusUnauthorized, map[string]string{"error": "the login could not be completed"})
		return
	}
	if !w.startSession(rw, r, who, a) {
		return
	}
	w.o.Log.Info("web login", slog.String("user", who.Username), slog.String("via", "oauth2"))
	http.Redirect(rw, r, orRoot(p.redirect), http.StatusSeeOther)
}

// userInfo reads the user from an OIDC userinfo (or GitHub/GitLab user)
// endpoint: the name is preferred_username, login, username or sub.
func userInfo(ctx context.Context, c *http.Client, u string) (Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Identity{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return Identity{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Identity{}, fmt.Errorf("user info: %s", resp.Status)
	}
	return decodeUserInfo(io.LimitReader(resp.Body, maxUserInfo))
}

// decodeUserInfo reads a user info answer: the name is
// preferred_username, login, username or sub, the first set.
func decodeUserInfo(r io.Reader) (Identity, error) {
	var info struct {
		Sub               string   `json:"sub"`
		PreferredUsername string   `json:"preferred_username"`
		Login             string   `json:"login"`
		Username          string   `json:"username"`
		Email             string   `json:"email"`
		Groups            []string `json:"groups"`
	}
	if err := json.NewDecoder(r).Decode(&info); err != nil {
		return Identity{}, fmt.Errorf("user info: %w", err)
	}
	who := Identity{Email: info.Email, Groups: info.Groups}
	for _, n := range []string{info.PreferredUsername, info.Login, info.Username, info.Sub} {
		if n != "" {
			who.Username = n
			break
		}
	}
	if who.Username == "" {
		return Identity{}, fmt.Errorf("user info names no user")
	}
	return who, nil
}
