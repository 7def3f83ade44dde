package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzSessionCookie: whatever Cookie header a request carries, Lookup
// never panics and finds a session only for the cookie value the store
// issued: an id cannot be bent (padding, case, another alphabet, bits
// past its end), and a second cookie of the same name does not confuse it.
func FuzzSessionCookie(f *testing.F) {
	s := NewSessions(newMemStore(), func() time.Time { return time.Unix(1e9, 0) })
	rec := httptest.NewRecorder()
	if err := s.Start(rec, httptest.NewRequest(http.MethodGet, "/", nil), Identity{Username: "alice"}, time.Hour); err != nil {
		f.Fatal(err)
	}
	issued := rec.Result().Cookies()[0].Value
	for _, seed := range []string{
		SessionCookie + "=" + issued, SessionCookie + "=" + issued + "=", SessionCookie + "=" + strings.ToUpper(issued),
		SessionCookie + "=" + issued[:42], SessionCookie + "=" + issued[:42] + "B", SessionCookie + "=" + strings.NewReplacer("-", "+", "_", "/").Replace(issued),
		SessionCookie + "=abc.def", SessionCookie + "=; " + SessionCookie + "=" + issued,
		SessionCookie + `="` + issued + `"`, "other=" + issued, "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", header)
		who, ok := s.Lookup(r)
		if !ok {
			return
		}
		c, err := r.Cookie(SessionCookie)
		if err != nil || c.Value != issued || who.Username != "alice" {
			t.Fatalf("Cookie %q opened %+v (cookie %v, %v)", header, who, c, err)
		}
	})
}

// FuzzBearer: a token is found only after the Bearer scheme, is not empty
// and has no white space around it.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  bmt_x ", "Basic abc", "Bearer", "Bearer  ", " Bearer\tx", "Bearer a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := Bearer(header)
		if !ok {
			if tok != "" {
				t.Fatalf("Bearer(%q) = %q, false", header, tok)
			}
			return
		}
		scheme, _, _ := strings.Cut(strings.TrimSpace(header), " ")
		if tok == "" || tok != strings.TrimSpace(tok) || !strings.Contains(header, tok) || !strings.EqualFold(scheme, "bearer") {
			t.Fatalf("Bearer(%q) = %q", header, tok)
		}
	})
}

// FuzzUserInfo: a provider's user info answer gives a user with a name, or
// an error; never a panic.
func FuzzUserInfo(f *testing.F) {
	for _, s := range []string{`{"login":"octocat","email":"o@x","groups":["a"]}`, `{"sub":"1","preferred_username":""}`,
		`{"groups":"notalist"}`, `{}`, `[]`, `null`, `{"login":1}`, `{"username":"u"} trailing`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		who, err := decodeUserInfo(strings.NewReader(body))
		if err == nil && who.Username == "" {
			t.Fatalf("%q: a user without a name", body)
		}
	})
}

// FuzzLocalRedirect: a redirect target kept after a login is a path of
// this site, never another host.
func FuzzLocalRedirect(f *testing.F) {
	for _, s := range []string{"/builders", "//evil.example", "/\\evil.example", "http://evil.example", "", "/%2F%2Fevil", "\\\\evil", "/\t/evil.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := localRedirect(s)
		if got == "" {
			return
		}
		req, err := http.NewRequest(http.MethodGet, "http://master.example"+got, nil)
		if got != s || !strings.HasPrefix(got, "/") || err == nil && req.URL.Host != "master.example" {
			t.Fatalf("localRedirect(%q) = %q", s, got)
		}
		loc := httptest.NewRecorder()
		http.Redirect(loc, httptest.NewRequest(http.MethodGet, "http://master.example/auth/login", nil), got, http.StatusSeeOther)
		// Browsers drop tabs and newlines from URLs and read '\\' as '/'.
		l := strings.Map(func(r rune) rune {
			switch r {
			case '\t', '\n', '\r':
				return -1
			case '\\':
				return '/'
			}
			return r
		}, loc.Header().Get("Location"))
		if strings.HasPrefix(l, "//") || !strings.HasPrefix(l, "/") {
			t.Fatalf("localRedirect(%q) = %q sends the browser to %q", s, got, loc.Header().Get("Location"))
		}
	})
}

// FuzzParseProxy: a trusted proxy is an address or a network, masked, or
// an error naming what was given.
func FuzzParseProxy(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "10.0.0.0/8", "10.1.2.3/8", "::1", "fe80::1%eth0", "::ffff:1.2.3.4", "1.2.3.4/33", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProxy(s)
		if err != nil {
			if !strings.Contains(err.Error(), "trusted proxy") {
				t.Fatalf("ParseProxy(%q): %v", s, err)
			}
			return
		}
		if !p.IsValid() || p != p.Masked() {
			t.Fatalf("ParseProxy(%q) = %v", s, p)
		}
	})
}
