package test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// changedConfig differs from baseConfig: worker linux-2 removed (and so from
// the builders), worker mac-1 added, builder runtests changed (new step),
// builder docs removed, builder lint added, scheduler force changed,
// scheduler nightly added, change source untouched.
const changedConfig = `
debug:
  actions: true
workers:
  - {name: linux-1, password: pw1}
  - {name: mac-1, password: pw3}
builders:
  - name: runtests
    workers: [linux-1, mac-1]
    steps:
      - shell: {command: [make, test]}
  - name: lint
    workers: [mac-1]
    steps:
      - shell: {command: [make, lint]}
schedulers:
  - {name: force, type: force, builders: [runtests, lint]}
  - {name: nightly, type: nightly, cron: "0 3 * * *", builders: [lint]}
change_sources:
  - name: poll-app
    git_poller: {repo_url: /tmp/app.git, branches: [main], poll_interval: 60s}
`

var wantChanges = []string{
	"added    master/botmaster/builder:lint",
	"added    master/botmaster/worker:mac-1",
	"added    master/scheduler_manager/nightly",
	"changed  master/botmaster/builder:runtests",
	"changed  master/scheduler_manager/force",
	"removed  master/botmaster/builder:docs",
	"removed  master/botmaster/worker:linux-2",
}

// changeLines picks the change lines of a reconfig's output, sorted.
func changeLines(out string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		for _, k := range []string{"added ", "removed ", "changed "} {
			if strings.HasPrefix(l, k) {
				got = append(got, l)
			}
		}
	}
	slices.Sort(got)
	return got
}

func checkChangedTree(t *testing.T, m *master) *treeNode {
	t.Helper()
	root := m.waitTree("the changed config", func(n *treeNode) bool {
		bm := n.find("master/botmaster")
		return bm != nil && slices.Equal(bm.childNames(), []string{"brd", "builder:lint", "builder:runtests", "worker:linux-1", "worker:mac-1"})
	})
	if got := root.find("master/scheduler_manager").childNames(); !slices.Equal(got, []string{"force", "nightly"}) {
		t.Fatalf("schedulers = %v", got)
	}
	return root
}

func TestReconfigByRemoteClient(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig)
	// Crash runtests once so its restart count is 1: a changed builder is
	// reconfigured in place, so the count must survive the reconfig.
	crash(t, m, "master/botmaster/builder:runtests")
	m.waitTree("runtests restarted", func(n *treeNode) bool {
		b := n.find("master/botmaster/builder:runtests")
		return b != nil && b.Restarts == 1 && b.Status == "running"
	})

	newCfg := filepath.Join(m.dir, "new.yaml")
	if err := os.WriteFile(newCfg, []byte(m.config(changedConfig)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := m.cli("reconfig", "--config", newCfg)
	if code != 0 {
		t.Fatalf("reconfig: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "reconfigured: generation 2, 7 changes, took ") {
		t.Fatalf("reconfig output:\n%s", out)
	}
	if got := changeLines(out); !slices.Equal(got, wantChanges) {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantChanges, "\n"))
	}
	root := checkChangedTree(t, m)
	if b := root.find("master/botmaster/builder:runtests"); b.Restarts != 1 {
		t.Fatalf("changed builder was replaced, not reconfigured in place: restarts %d", b.Restarts)
	}
	var actor struct {
		State struct {
			Steps []map[string]any `json:"steps"`
		} `json:"state"`
	}
	m.getJSON("/debug/actors/master/botmaster/builder:runtests", &actor)
	if len(actor.State.Steps) != 1 || !strings.Contains(stringify(actor.State.Steps[0]), "make") {
		t.Fatalf("builder did not take its new config: %+v", actor.State)
	}
	var health map[string]any
	m.getJSON("/healthz", &health)
	if health["generation"] != float64(2) {
		t.Fatalf("generation = %v", health["generation"])
	}

	// Sending the same config again changes nothing, not even the
	// generation; nor does a comment: the master finds it parses to the
	// config in force.
	out, _, code = m.cli("reconfig", "--config", newCfg)
	if code != 0 || !strings.Contains(out, "unchanged: generation 2 already runs this very config") {
		t.Fatalf("no-op reconfig (exit %d):\n%s", code, out)
	}
	f, _ := os.OpenFile(newCfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("# a comment\n")
	f.Close()
	out, _, code = m.cli("reconfig", "--config", newCfg)
	if code != 0 || !strings.Contains(out, "unchanged: generation 2") {
		t.Fatalf("reconfig with a comment added (exit %d):\n%s", code, out)
	}
}

func TestReconfigBySIGHUP(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig)
	from := m.stderr.count()
	m.writeConfig(changedConfig)
	m.signal(syscall.SIGHUP)
	m.stderr.waitFor(t, from, `configuration update complete.*generation=2.*changes=7`)
	checkChangedTree(t, m)

	// A bare `buildmaster reconfig` makes the master re-read its file, like SIGHUP.
	m.writeConfig(baseConfig)
	out, errOut, code := m.cli("reconfig")
	if code != 0 || !strings.Contains(out, "generation 3, 7 changes") {
		t.Fatalf("bare reconfig (exit %d):\n%s%s", code, out, errOut)
	}
	if got := m.tree().find("master/botmaster").childNames(); !slices.Equal(got, []string{"brd", "builder:docs", "builder:runtests", "worker:linux-1", "worker:linux-2"}) {
		t.Fatalf("botmaster after going back = %v", got)
	}
	// Re-reading the same file is recognised without parsing it; a new text
	// with the same meaning is parsed, found to be the config in force, and
	// changes nothing, not even the generation.
	out, _, code = m.cli("reconfig")
	if code != 0 || !strings.Contains(out, "unchanged: generation 3") {
		t.Fatalf("re-reading the same file (exit %d):\n%s", code, out)
	}
	m.writeConfig(baseConfig + "# only a comment is new\n")
	out, _, code = m.cli("reconfig")
	if code != 0 || !strings.Contains(out, "unchanged: generation 3") {
		t.Fatalf("re-reading an equivalent file (exit %d):\n%s", code, out)
	}
}

func TestBadConfigIsRejectedAndChangesNothing(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig)
	before := m.tree().paths()
	bad := strings.Replace(changedConfig, "workers: [mac-1]", "workers: [mac-9]", 1)
	bad = strings.Replace(bad, "poll_interval: 60s", "poll_interval: sixty", 1)
	bad = strings.Replace(bad, "  - {name: force, type: force", "  - {name: force, type: forced", 1)
	bad += "colour: blue\n"
	newCfg := filepath.Join(m.dir, "bad.yaml")
	if err := os.WriteFile(newCfg, []byte(masterConfig(m.listen.remote, m.listen.www, "127.0.0.1:1", bad)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := m.cli("reconfig", "--config", newCfg)
	if code != 1 {
		t.Fatalf("bad reconfig exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"configuration rejected; the master keeps running generation 1 unchanged (5 errors)",
		newCfg + ":", "builders[1].workers[0]", `mac-9`,
		"change_sources[0].git_poller.poll_interval", "schedulers[0].type",
		"colour", "listen.debug cannot change while the master runs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rejection lacks %q:\n%s", want, out)
		}
	}
	if after := m.tree().paths(); !slices.Equal(before, after) {
		t.Fatalf("tree changed by a rejected config:\n%v\n%v", before, after)
	}
	var health map[string]any
	m.getJSON("/healthz", &health)
	if health["generation"] != float64(1) {
		t.Fatalf("generation = %v after a rejected config", health["generation"])
	}
	// SIGHUP with a bad file: rejected too, and the old config keeps running.
	from := m.stderr.count()
	m.writeConfig("workers: [{name: x}]\nbuilders: [{name: b, workers: [nope]}]\n")
	m.signal(syscall.SIGHUP)
	m.stderr.waitFor(t, from, `configuration update aborted without making any changes`)
	if after := m.tree().paths(); !slices.Equal(before, after) {
		t.Fatalf("tree changed by a rejected SIGHUP config")
	}
}

func TestReconfigDryRun(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig)
	before := m.tree().paths()
	newCfg := filepath.Join(m.dir, "new.yaml")
	if err := os.WriteFile(newCfg, []byte(m.config(changedConfig)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := m.cli("reconfig", "--config", newCfg, "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run: the config is valid; applying it to generation 1 would make 7 changes") {
		t.Fatalf("dry run (exit %d):\n%s", code, out)
	}
	if got := changeLines(out); !slices.Equal(got, wantChanges) {
		t.Fatalf("dry-run changes:\n%s", strings.Join(got, "\n"))
	}
	if after := m.tree().paths(); !slices.Equal(before, after) {
		t.Fatalf("dry run changed the tree")
	}
	// A dry run of a bad config reports errors and exits 1.
	if err := os.WriteFile(newCfg, []byte("workers: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = m.cli("reconfig", "--config", newCfg, "--dry-run")
	if code != 1 || !strings.Contains(out, "configuration rejected") {
		t.Fatalf("bad dry run (exit %d):\n%s", code, out)
	}
}

func TestCheckconfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(masterConfig("127.0.0.1:9989", "127.0.0.1:8010", "127.0.0.1:8011", baseConfig)), 0o644)
	out, _, code := run(t, "checkconfig", "--config", good)
	if code != 0 || !strings.Contains(out, "Config file is good!") {
		t.Fatalf("good config: exit %d\n%s", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`listen:
  www: 127.0.0.1:8010
  debug: 127.0.0.1:8010
workers:
  - {name: w1, password: x}
  - {name: w1, password: y}
  - {name: debug}
builders:
  - {name: b1, workers: [w2], steps: [{shell: {command: [true]}}]}
schedulers:
  - {name: s, type: periodic, periodic_interval: 5 minutes, builders: [nope]}
bogus: 1
`), 0o644)
	out, _, code = run(t, "checkconfig", "--config", bad)
	if code != 1 {
		t.Fatalf("bad config: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"Configuration Errors:",
		bad + ":3:", "port 8010", // two listeners on one port
		bad + ":6:", "duplicate", // duplicate worker
		bad + ":7:", "reserved", // reserved name
		bad + ":9:", `unknown worker "w2"`,
		bad + ":11:", "periodic_interval", `unknown builder "nope"`,
		bad + ":12:", "bogus",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("checkconfig output lacks %q:\n%s", want, out)
		}
	}
	// The built-in config is valid.
	if out, _, code := run(t, "checkconfig"); code != 0 {
		t.Fatalf("built-in config: exit %d\n%s", code, out)
	}
}

func TestClientReportsUnreachableMaster(t *testing.T) {
	t.Parallel()
	addr := testkit.RefusingAddr(t)
	_, errOut, code := run(t, "tree", "--master", addr, "--token", "x")
	if code != 2 || !strings.Contains(errOut, "cannot reach the master at "+addr+": dial tcp") || strings.Contains(errOut, "%!") {
		t.Fatalf("unreachable master: exit %d, stderr:\n%s", code, errOut)
	}
	_, errOut, code = run(t, "tree", "--master", "http://"+addr, "--token", "x")
	if code != 2 || !strings.Contains(errOut, "give the control endpoint's HOST:PORT") {
		t.Fatalf("a URL for --master: exit %d, stderr:\n%s", code, errOut)
	}
	_, errOut, code = run(t, "reconfig", "--master", addr, "--token", "x")
	if code != 2 || !strings.Contains(errOut, "cannot reach the master") {
		t.Fatalf("unreachable master (reconfig): exit %d, stderr:\n%s", code, errOut)
	}
}

func TestTypedReconfigErrorsArePlacedInTheFile(t *testing.T) {
	t.Parallel()
	m := startMaster(t, baseConfig)
	// This config decodes, so the client sends it typed; the master's
	// errors come back with key paths and the client places them.
	bad := strings.Replace(changedConfig, "workers: [mac-1]", "workers: [mac-9]", 1)
	newCfg := filepath.Join(m.dir, "typed.yaml")
	text := masterConfig(m.listen.remote, m.listen.www, "127.0.0.1:1", bad)
	if err := os.WriteFile(newCfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// Where the unknown worker is: its line, and its column counted from 1.
	before, _, _ := strings.Cut(text, "mac-9")
	line, col := strings.Count(before, "\n")+1, len(before)-strings.LastIndex(before, "\n")
	out, _, code := m.cli("reconfig", "--config", newCfg)
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		newCfg + ":4:3: listen.debug cannot change while the master runs",
		fmt.Sprintf("%s:%d:%d: builders[1].workers[0]: builder \"lint\" uses unknown worker \"mac-9\"", newCfg, line, col),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
