package secrets

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// FuzzDirName: whatever name a step or config asks a dir provider for,
// only the file of that name in the directory is read: never a file
// beside or above it, never the directory itself.
func FuzzDirName(f *testing.F) {
	top := f.TempDir()
	dir := filepath.Join(top, "secrets")
	for path, v := range map[string]string{filepath.Join(top, "outside"): "OUTSIDE", filepath.Join(dir, "tok"): "inside",
		filepath.Join(dir, "sub", "deep"): "DEEP"} {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(top, "outside"), filepath.Join(dir, "link")); err != nil {
		f.Fatal(err)
	}
	d, err := NewDir(DirOptions{Path: dir})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"tok", "../outside", "sub/deep", "link", "sub", ".", "", "tok\x00", "..", `sub\deep`, "./tok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		v, err := d.Get(context.Background(), name)
		switch {
		case err == nil && (name != "tok" || v != "inside"):
			t.Fatalf("Get(%q) = %q", name, v)
		case err != nil && strings.Contains(err.Error(), "OUTSIDE"):
			t.Fatalf("Get(%q): %v", name, err)
		}
	})
}

// FuzzVault: whatever a secret's name and Vault's answer, a lookup asks
// only under the mount's data path (no segment leaves it), gives a value
// only from a well-formed answer, and no error holds the token.
func FuzzVault(f *testing.F) {
	const token = "hvs.fuzz-token-9c1e"
	var mu sync.Mutex
	var body string
	var status int
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, r.URL.EscapedPath())
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	f.Cleanup(srv.Close)
	v, err := NewVault(VaultOptions{Addr: srv.URL, Mount: "secret", TokenEnv: "T",
		LookupEnv: func(string) (string, bool) { return token, true }})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("ci/deploy|token", `{"data":{"data":{"token":"v1"}}}`, 200)
	f.Add("ci/deploy", `{"data":{"data":{"value":1}}}`, 200)
	f.Add("../sys/seal", `{}`, 200)
	f.Add("a|b|c", `{"errors":["permission denied `+token+`"]}`, 403)
	f.Add(`x\|y|%2e%2e`, `{"data":{"data":null,"metadata":{"deletion_time":"2020"}}}`, 200)
	f.Add("a/b", `{"errors":["x"]}`, 503)
	f.Fuzz(func(t *testing.T, name, answer string, code int) {
		if code < 200 || code > 599 {
			code = 200
		}
		mu.Lock()
		body, status, asked = answer, code, nil
		mu.Unlock()
		val, err := v.Get(context.Background(), name)
		mu.Lock()
		paths := asked
		mu.Unlock()
		for _, p := range paths {
			rest, ok := strings.CutPrefix(p, "/v1/secret/data/")
			if !ok || rest == "" {
				t.Fatalf("Get(%q) asked %q", name, p)
			}
			for _, seg := range strings.Split(rest, "/") {
				if seg == "" || seg == "." || seg == ".." || strings.EqualFold(seg, "%2e%2e") {
					t.Fatalf("Get(%q) asked %q", name, p)
				}
			}
		}
		if err != nil {
			if strings.Contains(err.Error(), token) {
				t.Fatalf("error holds the token: %v", err)
			}
			return
		}
		if code != 200 || !strings.Contains(answer, `"data"`) || len(paths) != 1 {
			t.Fatalf("Get(%q) = %q from HTTP %d %q", name, val, code, answer)
		}
	})
}
