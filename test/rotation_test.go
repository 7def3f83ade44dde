package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

const rotationConfig = `
collapse_requests: false
secrets: [{type: dir, path: %q}]
workers:
  - {name: w1, password: pw1}
builders:
  - {name: quick, workers: [w1], steps: [{shell: {command: ["true"]}}]}
schedulers:
  - {name: force, type: force, builders: [quick]}
reporters:
  - {name: hook, type: http_push, url: '%s/hook', mode: [all], report_start: false, headers: {X-Token: {secret: hooktoken}}}
`

// TestRotatedSecretReachesReporter: an http_push header is a secret read
// from a dir provider (a token file); its file is rotated and
// `buildmaster reconfig` run with the config file unchanged: the reply
// names the secret and the reporter changed, and the next report carries
// the new token. A reconfig with nothing rotated is unchanged; a token
// rotated to a value too short to redact is refused, naming the header
// and the secret, and the reporter keeps sending the token it had. No
// token is ever in the master's output or the CLI's.
func TestRotatedSecretReachesReporter(t *testing.T) {
	t.Parallel()
	const old, rotated = "hook-token-old-7f3a", "hook-token-new-c91e"
	dir := t.TempDir()
	token := filepath.Join(dir, "hooktoken")
	write := func(v string) {
		t.Helper()
		// As a secret manager rotates a file: a new file renamed over the old.
		if err := os.WriteFile(token+".tmp", []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(token+".tmp", token); err != nil {
			t.Fatal(err)
		}
	}
	write(old)
	hook := reportertest.NewFakeHTTP(t)
	m := startMaster(t, fmt.Sprintf(rotationConfig, dir, hook.URL))
	startWorker(t, m, "w1", "pw1")
	var shown []string
	reconfig := func(wantCode int, want ...string) {
		t.Helper()
		out, errOut, code := m.cli("reconfig")
		shown = append(shown, out, errOut)
		if code != wantCode {
			t.Fatalf("reconfig: exit %d, want %d\n%s%s", code, wantCode, out, errOut)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("reconfig said:\n%s%s\nwant %q", out, errOut, w)
			}
		}
	}
	report := func(n int, want string) {
		t.Helper()
		m.force("quick")
		r := testkit.Recv(t, fmt.Sprintf("report %d", n), hook.Arrived())
		if got := r.Header.Get("X-Token"); got != want {
			t.Fatalf("report %d: X-Token %q, want %q", n, got, want)
		}
	}

	report(1, old)
	write(rotated)
	reconfig(0, "secrets changed in their providers: hooktoken", "changed  master/status/reporter:hook")
	report(2, rotated)
	reconfig(0, "unchanged")
	write("abc")
	reconfig(1, `reporters[0].headers.X-Token: secret "hooktoken" in dir `+dir+` holds 3 bytes: too short`)
	report(3, rotated)

	shown = append(shown, strings.Join(m.stderr.snapshot(), "\n"), strings.Join(m.stdout.snapshot(), "\n"))
	for _, s := range shown {
		for _, v := range []string{old, rotated} {
			if strings.Contains(s, v) {
				t.Errorf("a token is shown:\n%s", s)
			}
		}
	}
}
