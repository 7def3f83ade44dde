package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestBearer(t *testing.T) {
	for _, c := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{" Bearer abc", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Basic abc", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
		{"abc", "", false},
	} {
		if token, ok := Bearer(c.header); token != c.token || ok != c.ok {
			t.Errorf("Bearer(%q) = %q, %v; want %q, %v", c.header, token, ok, c.token, c.ok)
		}
	}
}

func TestEqual(t *testing.T) {
	for _, c := range []struct {
		presented, want string
		eq              bool
	}{
		{"s3cret", "s3cret", true},
		{"s3cret", "s3creT", false},
		{"s3cre", "s3cret", false},
		{"s3cretx", "s3cret", false},
		{"", "s3cret", false},
		{"", "", false}, // a secret that is not configured admits nobody
		{"x", "", false},
	} {
		if got := Equal(c.presented, c.want); got != c.eq {
			t.Errorf("Equal(%q, %q) = %v", c.presented, c.want, got)
		}
	}
}

// serve passes a request with Authorization header auth through
// Middleware(admin) to h.
func serve(admin, auth string, h http.Handler) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/x", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	Middleware(admin)(h).ServeHTTP(w, r)
	return w
}

func TestMiddlewareAttachesTheCaller(t *testing.T) {
	for _, c := range []struct {
		name, admin, auth string
		want              Caller
	}{
		{"anonymous", "tok", "", Caller{}},
		{"admin", "tok", "Bearer tok", Caller{Name: AdminName, Admin: true, Token: "tok"}},
		{"admin, scheme in any case", "tok", "bEaReR tok", Caller{Name: AdminName, Admin: true, Token: "tok"}},
		{"another token", "tok", "Bearer other", Caller{Token: "other"}},
		{"another scheme", "tok", "Basic tok", Caller{}},
		{"no admin token configured", "", "Bearer ", Caller{}},
		{"no admin token configured, a token presented", "", "Bearer x", Caller{Token: "x"}},
	} {
		var got Caller
		serve(c.admin, c.auth, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = From(r.Context()) }))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: caller %+v; want %+v", c.name, got, c.want)
		}
	}
}

func TestRequireAdmin(t *testing.T) {
	h := RequireAdmin("admin only", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "done") }))
	for _, auth := range []string{"", "Bearer wrong", "Bearer tok2", "Basic tok", "Bearer"} {
		w := serve("tok", auth, h)
		// The refusal says what is needed, and never echoes a secret.
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), "Bearer") ||
			w.Body.String() != `{"error":"admin only"}`+"\n" {
			t.Errorf("Authorization %q: %d %v %s", auth, w.Code, w.Header(), w.Body)
		}
	}
	if w := serve("tok", "Bearer tok", h); w.Code != http.StatusOK || w.Body.String() != "done" {
		t.Errorf("admin: %d %s", w.Code, w.Body)
	}
	// Without Middleware, nobody is admin.
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/x", nil)
	r.Header.Set("Authorization", "Bearer tok")
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("without Middleware: %d", w.Code)
	}
}
