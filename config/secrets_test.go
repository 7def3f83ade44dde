package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/messages"
)

// chainOf is the Chain of cfg's secret providers.
func chainOf(t *testing.T, cfg *messages.MasterConfig) *secrets.Chain {
	t.Helper()
	provs, err := Providers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return secrets.NewChain(provs, secrets.ChainOptions{})
}

// The config shape loads, {secret: NAME} becomes a reference, and
// ResolveSecrets puts the dir provider's values in place, naming the field
// of a missing one without any value.
func TestSecretReferences(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"w1pass": "s3cret-worker\n", "alicepw": "alice-pw-123"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := `
secrets: [{type: dir, path: ` + dir + `}]
workers: [{name: w1, password: {secret: w1pass}}, {name: w2, password: "literal %(secret:x)s here"}]
www:
  auth: {type: userpass, users: [{username: alice, password: {secret: alicepw}}]}
  authz:
    roles: [{from: username, role: admins, users: [alice]}]
    allow: [{endpoint: control, role: admins}]
`
	cfg, err := Load("m.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.GetWorkers()[0].GetPassword(); got != "%(secret:w1pass)s" {
		t.Fatalf("decoded reference %q", got)
	}
	chain := chainOf(t, cfg)
	used, err := ResolveSecrets(context.Background(), cfg, chain)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.GetWorkers()[0].GetPassword(); got != "s3cret-worker" {
		t.Errorf("worker password %q", got)
	}
	if got := cfg.GetWorkers()[1].GetPassword(); got != "literal %(secret:x)s here" {
		t.Errorf("a literal holding a reference changed: %q", got)
	}
	if got := cfg.GetWww().GetAuth().GetUsers()[0].GetPassword(); got != "alice-pw-123" {
		t.Errorf("alice's password %q", got)
	}
	if got := used.Redactor().Redact("pw alice-pw-123 and s3cret-worker"); got != "pw <alicepw> and <w1pass>" {
		t.Errorf("redacted %q", got)
	}

	cfg, err = Load("m.yaml", []byte(strings.Replace(yaml, "{secret: alicepw}", "{secret: nope}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ResolveSecrets(context.Background(), cfg, chain)
	if err == nil || !strings.Contains(err.Error(), "www.auth.users[0].password") || !strings.Contains(err.Error(), "nope") ||
		strings.Contains(err.Error(), "s3cret") {
		t.Errorf("missing secret: %v", err)
	}
}

// TestSecretHeaders: an http_push header value may be {secret: NAME}:
// ResolveSecrets puts the value in place (other headers untouched) and
// redacts it; a missing secret names the reporter's header and the
// secret; a malformed reference is refused where it stands.
func TestSecretHeaders(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hooktoken"), []byte("hook-t0ken-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `
secrets: [{type: dir, path: ` + dir + `}]
reporters:
  - {name: hook, type: http_push, url: 'http://127.0.0.1:1/h', headers: {X-Token: {secret: hooktoken}, X-Plain: plain}}
`
	cfg, err := Load("m.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.GetReporters()[0].GetHeaders()["X-Token"]; got != SecretRef("hooktoken") {
		t.Fatalf("decoded header %q", got)
	}
	chain := chainOf(t, cfg)
	used, err := ResolveSecrets(context.Background(), cfg, chain)
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.GetReporters()[0].GetHeaders(); h["X-Token"] != "hook-t0ken-1" || h["X-Plain"] != "plain" {
		t.Errorf("headers %v", h)
	}
	if got := used.Redactor().Redact("X-Token: hook-t0ken-1"); got != "X-Token: <hooktoken>" {
		t.Errorf("redacted %q", got)
	}

	cfg, err = Load("m.yaml", []byte(strings.Replace(yaml, "{secret: hooktoken}", "{secret: nope}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = ResolveSecrets(context.Background(), cfg, chain); err == nil ||
		!strings.HasPrefix(err.Error(), `reporters[0].headers.X-Token: secret "nope" not found in dir `) {
		t.Errorf("missing secret: %v", err)
	}
	for bad, want := range map[string]string{
		"{secrt: hooktoken}": "m.yaml:4:74: reporters[0].headers.X-Token: want a value or {secret: NAME}",
		"{secret: ../x}":     `reporters[0].headers.X-Token: secret name "../x"`,
		"[a, b]":             "reporters[0].headers.X-Token: ",
	} {
		_, err := Load("m.yaml", []byte(strings.Replace(yaml, "{secret: hooktoken}", bad, 1)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", bad, err, want)
		}
	}
}

func TestWwwRules(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`secrets: [{type: dir}]`, "secrets[0].path: a dir secret provider needs a path"},
		{`secrets: [{type: vault, url: "ftp://x"}]`, "secrets[0].url: a vault secret provider needs an http(s) url"},
		{`workers: [{name: w, password: {secret: "../x"}}]`, `secret name "../x"`},
		{`workers: [{name: w, password: {secrt: x}}]`, "want a value or {secret: NAME}"},
		{`www: {auth: {type: userpass, users: [{username: a}]}}`, "www.auth.users[0]: a user needs a username and a password"},
		{`www: {auth: {type: htpasswd}}`, "www.auth.file: htpasswd auth needs a file"},
		{`www: {auth: {type: remote_user}}`, "www.auth.trusted_proxies: remote_user auth needs"},
		{`www: {auth: {type: remote_user, trusted_proxies: [nowhere]}}`, `trusted proxy "nowhere"`},
		{`www: {auth: {type: oauth2, oauth2: {auth_url: "https://x/a"}}}`, "www.auth.oauth2.token_url: oauth2 auth needs token_url"},
		{`www: {authz: {roles: [{from: emails}]}}`, "www.authz.roles[0].role: a role matcher needs the role"},
		{`www: {authz: {allow: [{endpoint: view}]}}`, "www.authz.allow[0].role: an allow rule needs a role"},
		{`www: {authz: {allow: [{endpoint: stop, role: x, builder: "["}]}}`, `www.authz.allow[0].builder: bad pattern "["`},
		{`www: {authz: {allow: [{endpoint: nope, role: x}]}}`, "www.authz.allow[0].endpoint"},
	} {
		_, err := Load("m.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
