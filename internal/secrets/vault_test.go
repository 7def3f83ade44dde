package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "hvs.test-token-0123456789"

// fakeVault speaks the part of Vault's HTTP API that Vault uses: KV v2
// reads, with Vault's JSON shapes for a secret, a deleted version, a
// refused token and a sealed server.
type fakeVault struct {
	mu        sync.Mutex
	mount     string
	namespace string
	secrets   map[string]map[string]any // path -> data; nil data: latest version deleted
	sealed    bool
	requests  []string // escaped request paths
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.URL.EscapedPath())
	w.Header().Set("Content-Type", "application/json")
	reply := func(code int, v any) {
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	switch {
	case f.sealed:
		reply(http.StatusServiceUnavailable, map[string]any{"errors": []string{"Vault is sealed"}})
		return
	case r.Header.Get("X-Vault-Token") != testToken || r.Header.Get("X-Vault-Namespace") != f.namespace:
		reply(http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}})
		return
	case r.Method != http.MethodGet:
		reply(http.StatusMethodNotAllowed, map[string]any{"errors": []string{}})
		return
	}
	prefix := "/v1/" + f.mount + "/data/"
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	data, found := f.secrets[path]
	if !ok || !found {
		reply(http.StatusNotFound, map[string]any{"errors": []string{}})
		return
	}
	meta := map[string]any{"created_time": "2024-03-22T02:24:06.945319214Z", "custom_metadata": nil, "deletion_time": "", "destroyed": false, "version": 2}
	if data == nil {
		meta["deletion_time"] = "2024-03-23T02:24:06.945319214Z"
		reply(http.StatusNotFound, map[string]any{"data": map[string]any{"data": nil, "metadata": meta}})
		return
	}
	reply(http.StatusOK, map[string]any{
		"request_id": "a1b2", "lease_id": "", "renewable": false, "lease_duration": 0,
		"data":      map[string]any{"data": data, "metadata": meta},
		"wrap_info": nil, "warnings": nil, "auth": nil,
	})
}

func newFakeVault(t *testing.T, f *fakeVault) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func tokenFile(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVault(t *testing.T) {
	f := &fakeVault{mount: "kv/ci", namespace: "team-a", secrets: map[string]map[string]any{
		"deploy":      {"value": "deploy-value", "token": "token-value", "port": 8675309},
		"app/db":      {"password": "db-password"},
		"we|ird name": {"value": "weird-value"},
		"gone":        nil,
	}}
	srv := newFakeVault(t, f)
	v, err := NewVault(VaultOptions{Addr: srv.URL + "/", Mount: "/kv/ci/", Namespace: "team-a", TokenFile: tokenFile(t, testToken)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		notFound   bool
		err        string
	}{
		{"deploy", "deploy-value", false, ""},
		{"deploy|token", "token-value", false, ""},
		{"app/db|password", "db-password", false, ""},
		{`we\|ird name`, "weird-value", false, ""},
		{"deploy|nokey", "", true, `the secret has no key "nokey"`},
		{"deploy|port", "", false, `key "port" holds a JSON number, not a string`},
		{"missing", "", true, `secret "missing" not found in vault ` + srv.URL + " mount kv/ci"},
		{"gone", "", true, "not found"},
		{"a|b|c", "", true, `more than one "|"`},
		{"deploy|", "", true, "empty key"},
		{"../../sys/seal-status", "", true, `path segment ".." is not allowed`},
		{"a//b", "", true, `path segment "" is not allowed`},
	} {
		checkGet(t, v, tc.name, tc.want, tc.notFound, tc.err, testToken, "deploy-value", "token-value", "8675309")
	}
	for _, p := range f.requests {
		if strings.Contains(p, "sys") || strings.Contains(p, "//") {
			t.Errorf("a refused name reached Vault: %s", p)
		}
	}
	if want := "/v1/kv/ci/data/we%7Cird%20name"; !slices.Contains(f.requests, want) {
		t.Errorf("requests %q lack the escaped path %s", f.requests, want)
	}
}

func TestVaultRefusals(t *testing.T) {
	f := &fakeVault{mount: "secret", secrets: map[string]map[string]any{"pw": {"value": "hunter2-value"}}}
	srv := newFakeVault(t, f)
	get := func(o VaultOptions) error {
		t.Helper()
		o.Addr = srv.URL
		v, err := NewVault(o)
		if err != nil {
			t.Fatal(err)
		}
		val, err := v.Get(context.Background(), "pw")
		if err == nil {
			t.Fatalf("Get = %q, want an error", val)
		}
		if errors.Is(err, ErrNotFound) {
			t.Errorf("error %v is a not-found: a chain would go on to the next provider", err)
		}
		noLeak(t, err, testToken, "hunter2-value", "wrong-token")
		return err
	}
	want := func(err error, s string) {
		t.Helper()
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	want(get(VaultOptions{TokenFile: tokenFile(t, "wrong-token")}), "permission denied (HTTP 403: permission denied)")
	want(get(VaultOptions{TokenFile: filepath.Join(t.TempDir(), "none")}), "reading the token")
	want(get(VaultOptions{TokenFile: tokenFile(t, " ")}), "the token is empty")
	want(get(VaultOptions{TokenEnv: "BMTEST_VAULT_TOKEN", LookupEnv: func(string) (string, bool) { return "", false }}), "BMTEST_VAULT_TOKEN (the token) is not set")
	want(get(VaultOptions{TokenEnv: "T", LookupEnv: func(string) (string, bool) { return "a\nb", true }}), "control characters")

	f.mu.Lock()
	f.sealed = true
	f.mu.Unlock()
	want(get(VaultOptions{TokenFile: tokenFile(t, testToken)}), "vault is sealed or unavailable (HTTP 503: Vault is sealed)")
}

// TestVaultTokenFromEnv reads the token from the environment.
func TestVaultTokenFromEnv(t *testing.T) {
	srv := newFakeVault(t, &fakeVault{mount: "secret", secrets: map[string]map[string]any{"pw": {"value": "hunter2-value"}}})
	t.Setenv("BMTEST_VAULT_TOKEN", testToken)
	v, err := NewVault(VaultOptions{Addr: srv.URL, TokenEnv: "BMTEST_VAULT_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Get(context.Background(), "pw"); got != "hunter2-value" || err != nil {
		t.Errorf("Get = %q, %v", got, err)
	}
}

// TestVaultRedirect: the token never follows a redirect to another host.
func TestVaultRedirect(t *testing.T) {
	var leaked sync.Map
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store("token", r.Header.Get("X-Vault-Token"))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	v, err := NewVault(VaultOptions{Addr: srv.URL, TokenFile: tokenFile(t, testToken)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Get(context.Background(), "pw")
	if err == nil || !strings.Contains(err.Error(), "vault redirected (HTTP 307)") {
		t.Errorf("error = %v, want a refused redirect", err)
	}
	if tok, ok := leaked.Load("token"); ok {
		t.Errorf("the redirect was followed, with token %q", tok)
	}
}

// TestVaultBounds: a huge answer and a server that never answers end in
// errors, not in memory or a hang.
func TestVaultBounds(t *testing.T) {
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":{"data":{"value":"`))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	v, err := NewVault(VaultOptions{Addr: huge.URL, TokenFile: tokenFile(t, testToken), MaxBody: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(context.Background(), "pw"); err == nil || !strings.Contains(err.Error(), "answer larger than 1048576 bytes") {
		t.Errorf("huge answer: error = %v", err)
	}

	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer stuck.Close()
	defer close(release)
	v, err = NewVault(VaultOptions{Addr: stuck.URL, TokenFile: tokenFile(t, testToken), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(context.Background(), "pw"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("stuck server: error = %v, want a timeout", err)
	}

	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }))
	defer garbage.Close()
	v, _ = NewVault(VaultOptions{Addr: garbage.URL, TokenFile: tokenFile(t, testToken)})
	if _, err := v.Get(context.Background(), "pw"); err == nil || !strings.Contains(err.Error(), "not KV v2 JSON") {
		t.Errorf("garbage answer: error = %v", err)
	}
}

// TestVaultEchoedToken: a proxy that echoes the request in its error never
// gets the token into ours.
func TestVaultEchoedToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		json.NewEncoder(w).Encode(map[string]any{"errors": []string{"bad upstream for X-Vault-Token: " + r.Header.Get("X-Vault-Token") + "\n" + strings.Repeat("y", 300)}})
	}))
	defer srv.Close()
	v, _ := NewVault(VaultOptions{Addr: srv.URL, TokenFile: tokenFile(t, testToken)})
	_, err := v.Get(context.Background(), "pw")
	if err == nil || !strings.Contains(err.Error(), "HTTP 502: bad upstream for X-Vault-Token: <vault-token> yyy") || !strings.HasSuffix(err.Error(), "…") {
		t.Errorf("error = %v", err)
	}
	noLeak(t, err, testToken)
}

func TestNewVaultErrors(t *testing.T) {
	for _, o := range []VaultOptions{
		{Addr: "vault:8200", TokenEnv: "T"},
		{Addr: "ftp://vault", TokenEnv: "T"},
		{Addr: "https://user:pw@vault", TokenEnv: "T"},
		{Addr: "https://vault?x=1", TokenEnv: "T"},
		{Addr: "https://vault"},
		{Addr: "https://vault", TokenEnv: "T", TokenFile: "/f"},
		{Addr: "https://vault", TokenEnv: "T", Mount: "a/../b"},
		{Addr: "https://vault", TokenEnv: "T", Namespace: "a\nb"},
	} {
		if _, err := NewVault(o); err == nil {
			t.Errorf("NewVault(%+v) succeeded", o)
		}
	}
}
