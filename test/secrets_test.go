package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Secret values of TestStepSecretsAreRedacted: distinctive, so that any
// part of them shown is found.
const (
	deployToken    = "tok-7f3a9c21e5b8d604"
	workerPassword = "w1-pw-93ac17be5d"
)

// stepSecretsConfig renders the config of TestStepSecretsAreRedacted, its
// secrets in dir.
func stepSecretsConfig(dir string) string {
	return fmt.Sprintf(`
secrets: [{type: dir, path: %s}]
workers:
  - {name: w1, password: {secret: w1pass}}
builders:
  - name: deploy
    workers: [w1]
    env: {DEPLOY_TOKEN: "%%(secret:deploytok)s"}
    steps:
      - name: echo
        shell: {command: [sh, -c, 'echo "token=%%(secret:deploytok)s on %%(prop:workername)s"; echo "err $DEPLOY_TOKEN" >&2; echo "$DEPLOY_TOKEN" > token.txt']}
      - name: split
        shell: {script: 'v="$DEPLOY_TOKEN"; printf "a=%%s" "${v%%??????????}"; sleep 0.3; printf "%%s;\n" "${v#??????????}"'}
      - name: netrc
        string_download: {s: "password %%(secret:deploytok)s\n", workerdest: netrc}
      - name: show-netrc
        shell: {command: [cat, netrc]}
  - name: missing
    workers: [w1]
    steps:
      - name: nope
        shell: {command: [echo, "%%(secret:nosuch)s"]}
schedulers:
  - {name: force, type: force, builders: [deploy, missing]}
`, dir)
}

// TestStepSecretsAreRedacted: a step's %(secret:NAME)s is rendered from the
// dir provider when the build runs (the worker gets the value), and the
// value never comes back: the stored log shows <NAME>, as Buildbot writes
// it (read after a restart, when the master has rendered nothing and so
// redacts nothing more from its answers), and neither the data API, the
// debug endpoint and tree, nor the master's output ever hold it; a
// missing secret ends its step EXCEPTION, naming the secret and the step.
func TestStepSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, value := range map[string]string{"deploytok": deployToken, "w1pass": workerPassword} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m := startMaster(t, stepSecretsConfig(dir), "--log-level", "debug")
	startWorker(t, m, "w1", workerPassword)

	m.force("deploy")
	b := m.waitBuild("deploy", 1)
	if *b.Results != 0 {
		t.Fatalf("deploy #1: results %d (%s)", *b.Results, b.StateString)
	}
	// The worker had the value.
	files, _ := filepath.Glob(filepath.Join(m.dir, "worker-w1", "*", "build", "token.txt"))
	if len(files) != 1 {
		t.Fatalf("token.txt on the worker: %v", files)
	}
	if got, _ := os.ReadFile(files[0]); string(got) != deployToken+"\n" {
		t.Fatalf("the worker's environment held %q, want the secret's value", got)
	}
	m.force("missing")
	mb := m.waitBuild("missing", 1)
	if *mb.Results != 4 {
		t.Fatalf("missing #1: results %d, want EXCEPTION (4)", *mb.Results)
	}
	if got := m.stepLog(mb.Buildid, "nope"); !strings.Contains(got, `secret "nosuch" not found (step "nope" of builder "missing")`) {
		t.Fatalf("log of nope:\n%s", got)
	}

	// Everything the master shows.
	shown := []string{}
	for _, path := range []string{
		"/api/v2/builds", "/api/v2/builds/1/steps", "/api/v2/builds/1/properties", "/api/v2/logs",
		"/api/v2/workers", "/api/v2/builders", "/api/v2/buildrequests", "/api/v2/buildsets", "/api/v2/masters",
	} {
		_, body := m.wwwGet(path)
		shown = append(shown, string(body))
	}
	for id := 1; id <= 12; id++ {
		_, body, _ := m.wwwGetAny(fmt.Sprintf("/api/v2/logs/%d/contents", id))
		shown = append(shown, string(body))
		_, body, _ = m.wwwGetAny(fmt.Sprintf("/api/v2/logs/%d/raw", id))
		shown = append(shown, string(body))
	}
	for _, page := range []string{"/", "/builders/deploy", fmt.Sprintf("/builds/%d", b.Buildid), "/workers", "/master"} {
		_, body, _ := m.wwwGetAny(page)
		shown = append(shown, string(body))
	}
	shown = append(shown, m.get("/debug/tree"), m.get("/debug/tree?format=text"), m.get("/metrics"))
	for _, path := range m.tree().paths() {
		shown = append(shown, m.get("/debug/actors/"+path))
	}
	from := m.stderr.count()
	m.signal(syscall.SIGTERM)
	if code := m.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	m.stderr.waitFor(t, from, "master stopped")
	shown = append(shown, strings.Join(m.stderr.snapshot(), "\n"), strings.Join(m.stdout.snapshot(), "\n"))

	// What was stored: a restarted master has rendered nothing, so its
	// answers redact only the config's secrets, not the deploy token.
	m.start(binary)
	// The log shows the marker where the value was, on every stream.
	for step, want := range map[string][]string{
		"echo":       {"token=<deploytok> on w1\n", "err <deploytok>\n"},
		"split":      {"a=<deploytok>;\n"},
		"show-netrc": {"password <deploytok>\n"},
	} {
		got := m.stepLog(b.Buildid, step)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("log of %s lacks %q:\n%s", step, w, got)
			}
		}
	}

	for _, path := range []string{"/api/v2/builds/1/steps", "/api/v2/builds/1/properties", "/api/v2/logs"} {
		_, body := m.wwwGet(path)
		shown = append(shown, string(body))
	}
	for id := 1; id <= 12; id++ {
		_, body, _ := m.wwwGetAny(fmt.Sprintf("/api/v2/logs/%d/raw", id))
		shown = append(shown, string(body))
	}

	for _, s := range shown {
		for what, secret := range map[string]string{"deploy token": deployToken, "worker password": workerPassword} {
			if i := strings.Index(s, secret); i >= 0 {
				t.Errorf("the %s is shown:\n%s", what, s[max(0, i-300):min(len(s), i+100)])
			}
		}
	}
}
