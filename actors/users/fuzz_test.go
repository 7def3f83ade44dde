package users_test

import (
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/actors/users"
)

// FuzzAccessMiddleware: whatever method, path and body an anonymous
// request carries, Access decides it without a panic, and under
// `allow: [{endpoint: control, role: admins}]` no state-changing request
// to the data API ever reaches the handlers.
func FuzzAccessMiddleware(f *testing.F) {
	m := mastertest.Start(f, builders+`
www:
  auth: {type: userpass, users: [{username: alice, password: a}]}
  authz:
    roles: [{from: username, role: admins, users: [alice]}]
    allow: [{endpoint: control, role: admins}]
`, "", nil)
	acc := users.NewAccess(m.RT)
	var reached *http.Request
	h := acc.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { reached = r }))
	for _, s := range [][3]string{
		{"POST", "/api/v2/forceschedulers/f", `{"jsonrpc":"2.0","method":"force","params":{"builderNames":["pub"]},"id":1}`},
		{"POST", "/api/v2/forceschedulers/f", `{"METHOD":"force","params":{"builderid":-1}}`},
		{"POST", "/api/v2/builds/1", `{"method":"stop"}`},
		{"POST", "/api/v2/schedulers/1", `{"method":"enable","params":{"enabled":false}}`},
		{"PUT", "/api/v2//workers/1", `{"method":"pause"}`},
		{"POST", "/api/v2/builders/pub/builds/1", `[`},
		{"GET", "/api/v2/builds/1/steps", ``},
		{"POST", "/builders/pub/force", `reason=x`},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		r, err := http.NewRequest(method, "http://master.example"+target, strings.NewReader(body))
		if err != nil || r.URL.Path == "" {
			return
		}
		reached = nil
		h.ServeHTTP(httptest.NewRecorder(), r)
		if reached == nil {
			return
		}
		safe := method == http.MethodGet || method == http.MethodHead
		if p := path.Clean(r.URL.Path); !safe && strings.HasPrefix(p+"/", "/api/v2/") && p != "/api/v2" {
			t.Fatalf("anonymous %s %s %q reached the API", method, target, body)
		}
	})
}
