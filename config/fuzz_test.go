package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// wwwSeed is a config with users, roles, secrets and secret references.
const wwwSeed = `
secrets: [{type: dir, path: /etc/bm/secrets}, {type: env, prefix: BM_}, {type: vault, url: "https://vault:8200", token_env: VT}]
workers: [{name: w1, password: {secret: w1pass}}]
builders:
  - name: b
    workers: [w1]
    env: {TOKEN: "%(secret:tok)s"}
    steps: [{shell: {command: [echo, "%(secret:a|b)s"]}}, {git: {repo_url: "https://x:%(secret:gh)s@h/r"}}]
www:
  auth: {type: remote_user, header: X-User, trusted_proxies: [10.0.0.0/8, "::1"], session_ttl: 1h}
  authz:
    roles: [{from: groups, prefix: "team-"}, {from: owner, role: owner}, {from: domain, role: staff, domains: [x.org]}]
    allow: [{endpoint: stop, builder: "*", role: owner, default_deny: false}, {endpoint: view, branch: "private/*", role: staff}, {endpoint: control, role: "adm*"}]
`

// FuzzLoad feeds arbitrary bytes to Load. It must never panic, and its
// result must be consistent: a config it accepts validates again cleanly,
// and every error it reports has a message and names the file. The seed
// corpus is testdata/fuzz/FuzzLoad plus the example and testdata/bad.
func FuzzLoad(f *testing.F) {
	_, example := Example()
	f.Add(example)
	f.Add([]byte(wwwSeed))
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, path := range bad {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Load("fuzz.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Fatal("Load returned a config with an error")
			}
			errs, ok := err.(Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("Load returned %T %v, want non-empty Errors", err, err)
			}
			for _, e := range errs {
				if e.File != "fuzz.yaml" || e.Msg == "" || strings.HasPrefix(e.Msg, "internal error") {
					t.Fatalf("bad error %#v", e)
				}
			}
			_ = err.Error()
			return
		}
		if errs := Validate(cfg, nil); len(errs) != 0 {
			t.Fatalf("accepted config fails Validate: %v", errs)
		}
		again := proto.Clone(cfg).(*messages.MasterConfig)
		ApplyDefaults(again)
		if !proto.Equal(again, cfg) {
			t.Fatal("ApplyDefaults is not idempotent")
		}
	})
}
