package ui

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
)

// guard decides whether a state-changing request may come in. A browser
// tells where a request comes from: with Sec-Fetch-Site or Origin present,
// the request must be same-origin (or from a trusted origin), as net/http's
// CrossOriginProtection checks. A request with neither header (an old
// browser, curl, a script) must carry the form token, in the _token form
// field or the X-UI-Token header. The token is an HMAC of a fixed label
// under the UI's key: every page embeds it, and a page of another origin
// cannot read it. Sessions (a later issue) will key it per session. A
// request the master's Options.Scripted recognises (a bearer token) passes.
type guard struct {
	cop   *http.CrossOriginProtection
	token string
	// scripted, when set, admits a request with a credential no browser
	// sends by itself (Options.Scripted).
	scripted func(*http.Request) bool
}

// tokenField and tokenHeader carry the form token.
const (
	tokenField  = "_token"
	tokenHeader = "X-UI-Token"
)

func newGuard(key []byte, trusted []string) (*guard, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range trusted {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("ui: trusted origin %q: %w", o, err)
		}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("buildmaster ui form v1"))
	return &guard{cop: cop, token: base64.RawURLEncoding.EncodeToString(mac.Sum(nil))}, nil
}

var errNoToken = errors.New("a request without Origin or Sec-Fetch-Site headers must carry the page's form token (_token field or X-UI-Token header)")

// check answers nil when r may change state. It reads the form only when it
// needs the token (r.Body must already be bounded).
func (g *guard) check(r *http.Request) error {
	if g.scripted != nil && g.scripted(r) {
		return nil
	}
	if err := g.cop.Check(r); err != nil {
		return fmt.Errorf("cross-origin request refused: %w", err)
	}
	if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != "" {
		return nil
	}
	got := r.Header.Get(tokenHeader)
	if got == "" {
		got = r.PostFormValue(tokenField)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(g.token)) != 1 {
		return errNoToken
	}
	return nil
}
