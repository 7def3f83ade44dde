package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

const horizonsConfig = `
workers:
  - {name: w1, password: pw1}
builders:
  - name: talk
    workers: [w1]
    steps:
      - name: say
        shell: {script: 'echo said %%(prop:buildnumber)s'}
  - name: gated
    workers: [w1]
    steps:
      - name: wait
        shell: {script: 'echo waiting; while [ ! -e %s ]; do sleep 0.05; done; echo released'}
schedulers:
  - {name: force, type: force, builders: [talk, gated]}
horizons:
  builds_per_builder: 2
  changes: 2
  batch: 1
`

// logFiles returns the ids of the logs whose contents are on disk (a file
// of their own, or a small log's record in a segment), read from the data
// directory as a store opened beside the master sees them.
func (m *master) logFiles() map[string]bool {
	m.t.Helper()
	st, err := logchunk.Open(filepath.Join(m.dir, "data", "logs"), logchunk.Options{})
	if err != nil {
		m.t.Fatal(err)
	}
	defer st.Close()
	ids, err := st.List(context.Background(), 0, 1<<20)
	if err != nil {
		m.t.Fatal(err)
	}
	files := map[string]bool{}
	for _, id := range ids {
		files[fmt.Sprint(id)] = true
	}
	return files
}

// logIDs returns the ids of the logs of a build's steps.
func (m *master) logIDs(buildid uint64) []string {
	m.t.Helper()
	var steps struct{ Steps []struct{ Stepid uint64 } }
	_, body := m.wwwGet(fmt.Sprintf("/api/v2/builds/%d/steps", buildid))
	if err := json.Unmarshal(body, &steps); err != nil {
		m.t.Fatal(err)
	}
	var ids []string
	for _, s := range steps.Steps {
		var logs struct{ Logs []struct{ Logid uint64 } }
		_, body := m.wwwGet(fmt.Sprintf("/api/v2/steps/%d/logs", s.Stepid))
		if err := json.Unmarshal(body, &logs); err != nil {
			m.t.Fatal(err)
		}
		for _, l := range logs.Logs {
			ids = append(ids, fmt.Sprint(l.Logid))
		}
	}
	if len(ids) == 0 {
		m.t.Fatalf("build %d has no logs", buildid)
	}
	return ids
}

// TestHorizonsCleanupDB: with builds_per_builder 2 and changes 2, a real
// master's `buildmaster cleanupdb` removes, one build per write (batch 1),
// the older finished builds, their requests, buildsets and log files, and
// the older changes: they are gone from the API and the disk, also after a
// restart. A build running meanwhile is left alone and finishes.
func TestHorizonsCleanupDB(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	// The worker reconnects to the address it was given: the restarted
	// master listens on the same one, reserved for this test meanwhile.
	m := newMaster(t, "")
	m.listen.workers = testkit.ReservedAddr(t)
	m.writeConfig(fmt.Sprintf(horizonsConfig, gate))
	m.start(binary)
	w := startWorker(t, m, "w1", "pw1")

	var changes []uint64
	for i := range 5 {
		changes = append(changes, m.mustSendchange("", "--who", "alice", "--revision", fmt.Sprintf("r%d", i), "--branch", "main"))
	}
	var builds []apiBuild
	logs := map[uint64][]string{}
	for n := 1; n <= 4; n++ {
		m.force("talk")
		b := m.waitBuild("talk", n)
		builds = append(builds, b)
		logs[b.Buildid] = m.logIDs(b.Buildid)
	}
	m.force("gated")
	m.waitStepLog("gated", 1, "wait", "waiting")
	files := m.logFiles()
	for id, ls := range logs {
		for _, l := range ls {
			if !files[l] {
				t.Fatalf("log %s of build %d has no file before the cleanup (files %v)", l, id, files)
			}
		}
	}

	out, errOut, code := m.cli("cleanupdb")
	if code != 0 {
		t.Fatalf("cleanupdb: exit %d\n%s%s", code, out, errOut)
	}
	if !regexp.MustCompile(`(?m)^removed 2 builds, 2 build requests, 2 buildsets, 3 changes, `).MatchString(out) ||
		!strings.Contains(out, "archives checked: every segment decodes\n") {
		t.Fatalf("cleanupdb said:\n%s", out)
	}

	check := func(when string) {
		t.Helper()
		files := m.logFiles()
		for i, b := range builds {
			gone := i < 2
			code, _ := m.wwwGet(fmt.Sprintf("/api/v2/builds/%d", b.Buildid))
			if gone != (code == 404) {
				t.Fatalf("%s: build %d (talk #%d): HTTP %d", when, b.Buildid, b.Number, code)
			}
			for _, l := range logs[b.Buildid] {
				code, _ := m.wwwGet("/api/v2/logs/" + l)
				if gone != (code == 404) || gone == files[l] {
					t.Fatalf("%s: log %s of build %d: HTTP %d, file there: %v", when, l, b.Buildid, code, files[l])
				}
			}
		}
		for i, c := range changes {
			code, _ := m.wwwGet(fmt.Sprintf("/api/v2/changes/%d", c))
			if gone := i < 3; gone != (code == 404) {
				t.Fatalf("%s: change %d: HTTP %d", when, c, code)
			}
		}
		var page struct{ Builds []apiBuild }
		_, body := m.wwwGet("/api/v2/builders/talk/builds")
		json.Unmarshal(body, &page)
		if len(page.Builds) != 2 || page.Builds[0].Number != 3 || page.Builds[1].Number != 4 {
			t.Fatalf("%s: builds of talk: %s", when, body)
		}
	}
	check("after cleanupdb")

	// The running build was not touched: it finishes.
	os.WriteFile(gate, nil, 0o644)
	if b := m.waitBuild("gated", 1); *b.Results != 0 {
		t.Fatalf("gated #1: results %d", *b.Results)
	}

	m.signal(syscall.SIGTERM)
	if code := m.wait(); code != 0 {
		t.Fatalf("master exited %d", code)
	}
	from := w.stdout.count()
	m.start(binary)
	check("after a restart")
	// The builder's numbers go on after the removed builds.
	w.stdout.waitFor(t, from, `connected`) // the worker logs in again by itself
	m.force("talk")
	m.waitBuild("talk", 5)
}
