package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a SessionStore in memory, for this package's tests (the
// master's is the state's web_sessions table). fail, when set, fails Put
// and Delete: the store's injected fault.
type memStore struct {
	mu      sync.Mutex
	m       map[string]Session
	fail    error
	deletes int
}

func newMemStore() *memStore { return &memStore{m: map[string]Session{}} }

func (s *memStore) Put(_ context.Context, sum string, sess Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.m[sum] = sess
	return nil
}

func (s *memStore) Get(sum string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[sum]
	return sess, ok
}

func (s *memStore) Delete(_ context.Context, sum string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.deletes++
	delete(s.m, sum)
	return nil
}

// withCookie is a request carrying the cookies rec set.
func withCookie(rec *httptest.ResponseRecorder) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

// TestSessionLifecycle: a login's cookie is HttpOnly, SameSite=Lax and
// (over TLS) Secure; the store keys the session by the SHA-256 of the
// cookie's id and holds nothing of the id; the session proves who until
// it expires, by the store's expiry and the clock; a logout ends it in the
// store, so the same cookie replayed proves nothing, and a made-up cookie
// costs the store no write; a store that fails leaves the browser's
// cookie as it was.
func TestSessionLifecycle(t *testing.T) {
	now := time.Unix(1e9, 0)
	store := newMemStore()
	s := NewSessions(store, func() time.Time { return now })
	rec := httptest.NewRecorder()
	login := httptest.NewRequest(http.MethodGet, "https://master.example/auth/login", nil)
	login.TLS = &tls.ConnectionState{}
	if err := s.Start(rec, login, Identity{Username: "alice", Email: "a@x", Groups: []string{"dev"}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	c := rec.Result().Cookies()[0]
	if c.Name != SessionCookie || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 3600 {
		t.Fatalf("cookie %+v", c)
	}
	if len(store.m) != 1 {
		t.Fatalf("%d sessions stored", len(store.m))
	}
	for key, sess := range store.m {
		if key != sum(c.Value) || strings.Contains(fmt.Sprint(key, sess), c.Value) {
			t.Fatalf("stored under %q: %+v (cookie %q)", key, sess, c.Value)
		}
		if !sess.Expires.Equal(now.Add(time.Hour)) {
			t.Fatalf("expires %v", sess.Expires)
		}
	}
	who, ok := s.Lookup(withCookie(rec))
	if !ok || who.Username != "alice" || who.Email != "a@x" || who.Groups[0] != "dev" || who.Via != "session" {
		t.Fatalf("Lookup = %+v, %v", who, ok)
	}
	now = now.Add(time.Hour)
	if _, ok := s.Lookup(withCookie(rec)); ok {
		t.Fatal("an expired session still proves who")
	}
	now = now.Add(-time.Minute)

	store.fail = errors.New("disk full")
	out := httptest.NewRecorder()
	if err := s.End(out, withCookie(rec)); err == nil || len(out.Result().Cookies()) != 0 {
		t.Fatalf("End with a failing store: %v, cookies %v", err, out.Result().Cookies())
	}
	if _, ok := s.Lookup(withCookie(rec)); !ok {
		t.Fatal("a logout the store refused ended the session")
	}
	store.fail = nil
	out = httptest.NewRecorder()
	if err := s.End(out, withCookie(rec)); err != nil || out.Result().Cookies()[0].MaxAge != -1 {
		t.Fatalf("End: %v, cookies %v", err, out.Result().Cookies())
	}
	if _, ok := s.Lookup(withCookie(rec)); ok || len(store.m) != 0 {
		t.Fatal("the cookie of a session ended still proves who")
	}

	// A logout with a cookie the store never issued writes nothing.
	madeUp := httptest.NewRequest(http.MethodPost, "/auth/logout", nil)
	madeUp.AddCookie(&http.Cookie{Name: SessionCookie, Value: strings.Repeat("A", len(c.Value))})
	if err := s.End(httptest.NewRecorder(), madeUp); err != nil || store.deletes != 1 {
		t.Fatalf("End of a made-up cookie: %v, %d deletes", err, store.deletes)
	}

	store.fail = errors.New("disk full")
	rec = httptest.NewRecorder()
	if err := s.Start(rec, login, Identity{Username: "bob"}, time.Hour); err == nil || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("Start with a failing store: %v, cookies %v", err, rec.Result().Cookies())
	}
}
