package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"
)

// SessionCookie is the name of the web session's cookie.
const SessionCookie = "buildmaster_session"

// DefaultSessionTTL is how long a login lasts unless configured.
const DefaultSessionTTL = 24 * time.Hour

// sessionIDBytes is the size of a session id: 256 random bits.
const sessionIDBytes = 32

// Identity is who a session or a credential proves a user to be.
type Identity struct {
	Username string
	Email    string
	Groups   []string
	// Via says how they proved it: "session", "token", "remote_user".
	Via string
}

// Session is one open web session.
type Session struct {
	Who     Identity
	Started time.Time
	Expires time.Time
}

// SessionStore keeps the open sessions by the SHA-256 (hex) of their id,
// never the id itself. The master's (users.Access) is the state's
// web_sessions table: sessions outlive a restart, and a logout too. Put
// and Delete return once the change is durable; Get reads what is open
// now, expired or not.
type SessionStore interface {
	Put(ctx context.Context, sum string, s Session) error
	Get(sum string) (Session, bool)
	Delete(ctx context.Context, sum string) error
}

// Sessions are the web logins of one master. A session's cookie holds a
// random id of 256 bits, so it cannot be guessed, and the session itself
// (who, until when) is in the store under the id's SHA-256: what the store
// holds cannot be presented as a cookie, and a logout ends the session
// for good, the same cookie replayed afterwards proving nothing, across
// restarts too.
type Sessions struct {
	store SessionStore
	now   func() time.Time
}

// NewSessions returns the sessions kept in store; now is the clock (nil:
// time.Now).
func NewSessions(store SessionStore, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	return &Sessions{store: store, now: now}
}

// Start opens a session for who lasting ttl and, once the store has it,
// sets its cookie on w: HttpOnly, SameSite=Lax, Path=/, and Secure when
// the request came over TLS. When the store fails, w is left alone.
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, who Identity, ttl time.Duration) error {
	raw := make([]byte, sessionIDBytes)
	_, _ = rand.Read(raw) // never fails (crypto/rand)
	id := base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	who.Via = "session"
	if err := s.store.Put(r.Context(), sum(id), Session{Who: who, Started: now, Expires: now.Add(ttl)}); err != nil {
		return fmt.Errorf("recording the session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", Expires: now.Add(ttl),
		MaxAge: int(ttl / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	return nil
}

// Lookup returns the identity of the request's session cookie, if it holds
// an open, unexpired session.
func (s *Sessions) Lookup(r *http.Request) (Identity, bool) {
	id, ok := cookieID(r)
	if !ok {
		return Identity{}, false
	}
	sess, ok := s.store.Get(sum(id))
	if !ok || !s.now().Before(sess.Expires) {
		return Identity{}, false
	}
	sess.Who.Via = "session"
	return sess.Who, true
}

// End ends the request's session, if any, and clears its cookie on w.
// When the store cannot end it, End leaves w alone and says why: the
// browser keeps its cookie, to log out again.
func (s *Sessions) End(w http.ResponseWriter, r *http.Request) error {
	// Only a session the store has is ended: a cookie made up costs no
	// durable write.
	if id, ok := cookieID(r); ok {
		if _, open := s.store.Get(sum(id)); open {
			if err := s.store.Delete(r.Context(), sum(id)); err != nil {
				return fmt.Errorf("ending the session: %w", err)
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	return nil
}

// cookieID returns the session id of r's cookie, when it has the form of
// one.
func cookieID(r *http.Request) (string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || len(c.Value) != base64.RawURLEncoding.EncodedLen(sessionIDBytes) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c.Value)
	if err != nil || len(raw) != sessionIDBytes {
		return "", false
	}
	return c.Value, true
}

// sum is the key of the session whose id is id.
func sum(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}
