package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

const stepsConfig = `
workers:
  - {name: w1, password: pw1}
builders:
  - name: warn
    workers: [w1]
    steps:
      - name: lint
        warn_on_warnings: true
        shell: {script: 'echo linting; exit 1', decode_rc: {0: success, 1: warnings}}
  - name: warn-quietly
    workers: [w1]
    steps:
      - name: lint
        shell: {script: 'exit 1', decode_rc: {0: success, 1: warnings}}
  - name: halt
    workers: [w1]
    steps:
      - name: boom
        halt_on_failure: true
        flunk_on_failure: false
        shell: {script: 'exit 3'}
      - name: never
        shell: {script: 'echo never'}
  - name: stages
    workers: [w1]
    steps:
      - {name: stage, shell: {script: 'echo one'}}
      - {name: stage, shell: {script: 'echo two'}}
      - {name: stage, shell: {script: 'echo three'}}
schedulers:
  - {name: force, type: force, builders: [warn, warn-quietly, halt, stages]}
`

// TestStepResults: a step's exit code is decoded by decode_rc and counts in
// the build as Buildbot's computeResultAndTermination says (each case as run
// on Buildbot 3.7): a WARNINGS step makes the build WARNINGS with
// warn_on_warnings and leaves it SUCCESS without; a halting failure that
// does not flunk skips the rest and leaves the build SUCCESS.
func TestStepResults(t *testing.T) {
	t.Parallel()
	m := startMaster(t, stepsConfig)
	startWorker(t, m, "w1", "pw1")
	for _, c := range []struct {
		builder string
		results int
		steps   string
	}{
		{"warn", 1, "worker_preparation=0 lint=1"},
		{"warn-quietly", 0, "worker_preparation=0 lint=1"},
		{"halt", 0, "worker_preparation=0 boom=2"},
	} {
		m.force(c.builder)
		b := m.waitBuild(c.builder, 1)
		if *b.Results != c.results {
			t.Errorf("%s #1: results %d (%s), want %d", c.builder, *b.Results, b.StateString, c.results)
		}
		if got := m.stepResults(b.Buildid); got != c.steps {
			t.Errorf("%s #1: steps %s, want %s", c.builder, got, c.steps)
		}
	}
}

// TestStepNamesAreUnique: three steps named stage are stage, stage_1 and
// stage_2 in the data API, each found by its name.
func TestStepNamesAreUnique(t *testing.T) {
	t.Parallel()
	m := startMaster(t, stepsConfig)
	startWorker(t, m, "w1", "pw1")
	m.force("stages")
	b := m.waitBuild("stages", 1)
	var out bytes.Buffer
	for _, path := range []string{
		"/api/v2/builds/%d/steps?field=number&field=name&field=results",
		"/api/v2/builds/%d/steps/stage_1?field=number&field=name&field=results",
		"/api/v2/builds/%d/steps/stage_2?field=number&field=name",
	} {
		path = fmt.Sprintf(path, b.Buildid)
		code, body := m.wwwGet(path)
		fmt.Fprintf(&out, "GET %s\nHTTP %d\n%s\n", strings.Replace(path, fmt.Sprint(b.Buildid), "N", 1), code, body)
	}
	testkit.Golden(t, filepath.Join("testdata", "step_names.golden"), out.Bytes())
	if got := m.stepLog(b.Buildid, "stage_1"); !strings.Contains(got, "two\n") {
		t.Errorf("log of stage_1:\n%s", got)
	}
}

// TestChangePropertiesReachTheBuild: the properties of a change, from
// sendchange --property or a change hook's payload, are build properties of
// source Change, which %(prop:…)s sees, in Buildbot's order: the master's,
// then the change's, then the buildset's (the scheduler's) … A change's
// property overrides the scheduler's: the scheduler puts the change's
// properties in the buildset over its own, as Buildbot's does.
func TestChangePropertiesReachTheBuild(t *testing.T) {
	t.Parallel()
	m := startMaster(t, `
properties: {global: g, over: global}
workers:
  - {name: w1, password: pw1}
builders:
  - name: props
    workers: [w1]
    properties: {mine: b}
    steps:
      - name: show
        shell: {script: 'echo "cp=%(prop:cp)s hp=%(prop:hp)s over=%(prop:over)s global=%(prop:global)s"'}
schedulers:
  - {name: main, type: single_branch, branch: main, builders: [props], properties: {over: scheduler, sp: s}}
change_sources:
  - {name: hook, change_hook: {dialect: base, secret: hooksecret}}
`)
	startWorker(t, m, "w1", "pw1")

	m.mustSendchange("", "--who", "me", "--branch", "main", "--revision", "r1", "--property", "cp:fromchange", "--property", "over:change")
	b := m.waitBuild("props", 1)
	if got := m.stepLog(b.Buildid, "show"); !strings.Contains(got, "cp=fromchange hp= over=change global=g\n") {
		t.Errorf("log of show:\n%s", got)
	}
	m.buildProperties(b.Buildid, map[string]string{"cp": `["fromchange","Change"]`, "over": `["change","Change"]`,
		"global": `["g","Global"]`, "sp": `["s","Scheduler"]`, "mine": `["b","Builder"]`, "scheduler": `["main","Scheduler"]`})

	payload := `{"author": "me", "branch": "main", "revision": "r2", "properties": {"hp": "fromhook", "n": 3}}`
	m.baseHook("hooksecret", payload)
	b = m.waitBuild("props", 2)
	if got := m.stepLog(b.Buildid, "show"); !strings.Contains(got, "cp= hp=fromhook over=scheduler global=g\n") {
		t.Errorf("log of show:\n%s", got)
	}
	m.buildProperties(b.Buildid, map[string]string{"hp": `["fromhook","Change"]`, "n": `[3,"Change"]`, "over": `["scheduler","Scheduler"]`})
}

// baseHook posts payload, a change, to m's base change hook with the
// bearer secret, and checks it is taken.
func (m *master) baseHook(secret, payload string) {
	m.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.www+"/change_hook/base", strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := httpClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		m.t.Fatalf("hook: HTTP %d", resp.StatusCode)
	}
}

// buildProperties checks that build id has the properties want (name →
// its JSON [value, source]), as GET /api/v2/builds?property=* shows them.
func (m *master) buildProperties(id uint64, want map[string]string) {
	m.t.Helper()
	code, body := m.wwwGet(fmt.Sprintf("/api/v2/builds?buildid=%d&property=*", id))
	var page struct {
		Builds []struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"builds"`
	}
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Builds) != 1 {
		m.t.Fatalf("build %d: HTTP %d %v\n%s", id, code, err, body)
	}
	for name, w := range want {
		if got := string(page.Builds[0].Properties[name]); got != w {
			m.t.Errorf("build %d: property %s = %s, want %s", id, name, got, w)
		}
	}
}
