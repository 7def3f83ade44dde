package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SessionCookie is the name of the web session's cookie.
const SessionCookie = "buildmaster_session"

// DefaultSessionTTL is how long a login lasts unless configured.
const DefaultSessionTTL = 24 * time.Hour

// MaxSessions bounds the sessions kept; past it the oldest is dropped.
const MaxSessions = 10000

// Identity is who a session or a credential proves a user to be.
type Identity struct {
	Username string
	Email    string
	Groups   []string
	// Via says how they proved it: "session", "token", "remote_user".
	Via string
}

// Sessions are the web logins of one master: a cookie holds a random
// session id and its HMAC, so a cookie is neither guessable nor forgeable,
// and the session itself (who, until when) stays on the server, so a
// logout ends it for good: the same cookie replayed afterwards proves
// nothing. Sessions live in memory: a restart logs everybody out.
type Sessions struct {
	key []byte
	now func() time.Time

	mu   sync.Mutex
	byID map[string]*session
}

type session struct {
	id      string
	who     Identity
	expires time.Time
}

// NewSessions returns an empty session store signing with a random key;
// now is the clock (nil: time.Now).
func NewSessions(now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return &Sessions{key: key, now: now, byID: map[string]*session{}}
}

// Start opens a session for who lasting ttl and sets its cookie on w:
// HttpOnly, SameSite=Lax, Path=/, and Secure when the request came over
// TLS.
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, who Identity, ttl time.Duration) {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	id := base64.RawURLEncoding.EncodeToString(raw)
	exp := s.now().Add(ttl)
	s.mu.Lock()
	if len(s.byID) >= MaxSessions {
		s.dropOldestLocked()
	}
	who.Via = "session"
	s.byID[id] = &session{id: id, who: who, expires: exp}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id + "." + s.sign(id), Path: "/", Expires: exp,
		MaxAge: int(ttl / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
}

// Lookup returns the identity of the request's session cookie, if it holds
// a valid, unexpired session.
func (s *Sessions) Lookup(r *http.Request) (Identity, bool) {
	id, ok := s.cookieID(r)
	if !ok {
		return Identity{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byID[id]
	if sess == nil {
		return Identity{}, false
	}
	if !s.now().Before(sess.expires) {
		delete(s.byID, id)
		return Identity{}, false
	}
	return sess.who, true
}

// End ends the request's session, if any, and clears its cookie on w.
func (s *Sessions) End(w http.ResponseWriter, r *http.Request) {
	if id, ok := s.cookieID(r); ok {
		s.mu.Lock()
		delete(s.byID, id)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
}

// Len returns how many sessions are open.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *Sessions) cookieID(r *http.Request) (string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", false
	}
	id, mac, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.sign(id))) {
		return "", false
	}
	return id, true
}

func (s *Sessions) sign(id string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Sessions) dropOldestLocked() {
	var oldest *session
	for _, sess := range s.byID {
		if oldest == nil || sess.expires.Before(oldest.expires) {
			oldest = sess
		}
	}
	if oldest != nil {
		delete(s.byID, oldest.id)
	}
}
