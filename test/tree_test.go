package test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

const baseConfig = `
debug:
  actions: true
workers:
  - {name: linux-1, password: pw1}
  - {name: linux-2, password: pw2, max_builds: 2}
builders:
  - name: runtests
    workers: [linux-1, linux-2]
    steps:
      - shell: {command: [echo, hi]}
  - name: docs
    workers: [linux-2]
    steps:
      - shell: {script: "make docs"}
schedulers:
  - {name: force, type: force, builders: [runtests, docs]}
change_sources:
  - name: poll-app
    git_poller: {repo_url: /tmp/app.git, branches: [main], poll_interval: 60s}
`

var services = []string{"botmaster", "caches", "change_svc", "db", "debug", "metrics", "pbmanager", "scheduler_manager", "status", "user_manager"}

func TestTreeShapeOnDebugEndpointAndRemoteClient(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig)
	root := m.tree()
	if root.Name != "master" || root.Path != "master" || root.Kind != "master" || root.Status != "running" {
		t.Fatalf("root = %+v", root)
	}
	if got := root.childNames(); !slices.Equal(got, services) {
		t.Fatalf("master's children = %v, want %v", got, services)
	}
	bm := root.find("master/botmaster")
	if got, want := bm.childNames(), []string{"brd", "builder:docs", "builder:runtests", "worker:linux-1", "worker:linux-2"}; !slices.Equal(got, want) {
		t.Fatalf("botmaster's children = %v, want %v", got, want)
	}
	if n := root.find("master/botmaster/worker:linux-1"); n.Kind != "worker" || n.LastFailure != nil || n.Restarts != 0 {
		t.Fatalf("worker node = %+v", n)
	}
	if n := root.find("master/scheduler_manager/force"); n == nil || n.Kind != "scheduler" {
		t.Fatalf("scheduler node missing: %v", root.find("master/scheduler_manager").childNames())
	}
	if n := root.find("master/change_svc/poll-app"); n == nil || n.Kind != "change_source" {
		t.Fatalf("change source node missing")
	}

	// The same tree over the control endpoint, as JSON and as text.
	out, errOut, code := m.cli("tree", "--json")
	if code != 0 {
		t.Fatalf("tree --json: exit %d: %s", code, errOut)
	}
	var remote treeNode
	if err := json.Unmarshal([]byte(out), &remote); err != nil {
		t.Fatalf("tree --json: %v\n%s", err, out)
	}
	if !slices.Equal(remote.paths(), root.paths()) {
		t.Fatalf("remote tree paths %v != debug tree paths %v", remote.paths(), root.paths())
	}
	out, _, code = m.cli("tree")
	if code != 0 || !strings.Contains(out, "├── botmaster [botmaster] running") || !strings.Contains(out, "builder:runtests [builder] running") {
		t.Fatalf("tree text (exit %d):\n%s", code, out)
	}

	// Text and HTML views, one actor's state with its secret blanked.
	resp, err := http.Get("http://" + m.debug + "/debug/tree?format=text")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("text tree: %v %v", err, resp)
	}
	resp.Body.Close()
	var actor struct {
		Path  string         `json:"path"`
		State map[string]any `json:"state"`
	}
	m.getJSON("/debug/actors/master/botmaster/worker:linux-2", &actor)
	cfg, _ := actor.State["config"].(map[string]any)
	if cfg["name"] != "linux-2" || cfg["maxBuilds"] != float64(2) || actor.State["connected"] == true {
		t.Fatalf("worker state = %v", actor.State)
	}
	if _, leaked := cfg["password"]; leaked {
		t.Fatalf("worker password shown on the debug endpoint: %v", actor.State)
	}
	var health map[string]any
	if code := m.getJSON("/healthz", &health); code != 200 || health["status"] != "ok" {
		t.Fatalf("healthz = %d %v", code, health)
	}
	resp, err = http.Get("http://" + m.debug + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if !strings.Contains(body, `buildmaster_actors{kind="builder"} 2`) || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics lack the tree or Go metrics:\n%.2000s", body)
	}
	resp, err = http.Get("http://" + m.debug + "/debug/pprof/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pprof: %v %v", err, resp)
	}
	resp.Body.Close()
}

func TestGracefulStopLeafFirst(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig, "--log-level", "debug")
	from := m.stderr.count()
	m.signal(syscall.SIGTERM)
	if code := m.wait(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	m.stderr.waitFor(t, from, `master stopped`)
	// Every actor's "actor stopped" line comes after those of its children.
	stopped := map[string]int{}
	for i, l := range m.stderr.snapshot()[from:] {
		if j := strings.Index(l, "msg=\"actor stopped\" path="); j >= 0 {
			stopped[strings.Trim(l[j+len("msg=\"actor stopped\" path="):], `"`)] = i
		}
	}
	if _, ok := stopped["master"]; !ok || len(stopped) < 16 {
		t.Fatalf("expected every actor to log its stop, got %v", stopped)
	}
	for path, i := range stopped {
		if parent := filepath.Dir(path); parent != "." {
			if pi, ok := stopped[parent]; !ok || pi < i {
				t.Fatalf("%s stopped at line %d, before its child %s at line %d", parent, pi, path, i)
			}
		}
	}
}

func TestAdminTokenFileIsPrivate(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig)
	st, err := os.Stat(filepath.Join(m.dir, "data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token mode %v, want 0600", st.Mode().Perm())
	}
	if len(m.token) < 32 {
		t.Fatalf("admin token too short: %d chars", len(m.token))
	}
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
