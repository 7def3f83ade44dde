package test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// gitRepo makes a git repository with one commit on main and returns its path.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	git(t, "", "init", "-q", "-b", "main", dir)
	commit(t, dir, "v1")
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@example.org",
		"GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes content to file.txt and commits it; it returns the sha.
func commit(t *testing.T, dir, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "file.txt"), []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "file.txt")
	git(t, dir, "commit", "-q", "-m", "set "+content)
	return git(t, dir, "rev-parse", "HEAD")
}

const sourcesConfig = `
collapse_requests: false
workers:
  - {name: w1, password: pw1}
builders:
  - name: app
    workers: [w1]
    steps:
      - git: {repo_url: REPO, mode: full}
      - name: show
        shell: {script: 'cat file.txt; echo "rev=%(prop:got_revision)s"'}
  - name: batch
    workers: [w1]
    steps:
      - name: count
        shell: {script: 'echo batched %(prop:branch)s'}
schedulers:
  - {name: on-main, type: single_branch, branch: main, builders: [app]}
  - {name: quiet, type: single_branch, branch: batch, tree_stable_timer: 1500ms, builders: [batch]}
change_sources:
  - {name: repo, git_poller: {repo_url: REPO, branches: [main], poll_interval: 300ms}}
  - {name: hook, change_hook: {dialect: github, secret: hooksecret}}
`

// waitPolls waits until the poller has polled at least n times.
func (m *master) waitPolls(name string, n int) {
	m.t.Helper()
	testkit.Eventually(m.t, fmt.Sprintf("poller %s polled %d times", name, n), func() bool {
		var a struct {
			State map[string]any `json:"state"`
		}
		m.getJSON("/debug/actors/master/change_svc/"+name, &a)
		p, _ := a.State["polls"].(float64)
		return int(p) >= n
	})
}

// TestPolledCommitIsBuilt: a commit to a local git repository is polled,
// becomes a change, and is built from a real clone at that revision.
func TestPolledCommitIsBuilt(t *testing.T) {
	t.Parallel()
	repo := gitRepo(t)
	m := startMaster(t, strings.ReplaceAll(sourcesConfig, "REPO", repo))
	startWorker(t, m, "w1", "pw1")
	m.waitPolls("repo", 1) // the first poll only records main's tip
	sha := commit(t, repo, "v2")
	b := m.waitBuild("app", 1)
	if *b.Results != 0 {
		t.Fatalf("app #1: %d\n%s", *b.Results, m.stepLog(b.Buildid, "git"))
	}
	if got := m.stepLog(b.Buildid, "show"); !strings.Contains(got, "v2\n") || !strings.Contains(got, "rev="+sha) {
		t.Fatalf("show log:\n%s", got)
	}
	var page struct{ Changes []map[string]any }
	_, body := m.wwwGet("/api/v2/changes")
	json.Unmarshal(body, &page)
	if len(page.Changes) != 1 || page.Changes[0]["revision"] != sha || page.Changes[0]["comments"] != "set v2" ||
		page.Changes[0]["author"] != "Alice <alice@example.org>" {
		t.Fatalf("changes: %s", body)
	}
}

// githubPush is the payload of a GitHub push of commits (their ids) to
// branch of repo.
func githubPush(repo, branch string, ids ...string) []byte {
	var commits []map[string]any
	for _, id := range ids {
		commits = append(commits, map[string]any{"id": id, "message": "pushed", "timestamp": "2026-11-24T20:00:00Z",
			"url": "https://example.org/c/" + id, "author": map[string]any{"name": "Bob", "email": "bob@example.org"},
			"committer": map[string]any{"name": "Bob", "email": "bob@example.org"}, "added": []string{}, "modified": []string{"file.txt"},
			"removed": []string{}, "distinct": true})
	}
	payload, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/" + branch, "before": strings.Repeat("0", 40), "after": ids[len(ids)-1],
		"repository": map[string]any{"html_url": repo, "full_name": "acme/app"}, "commits": commits,
	})
	return payload
}

// postHook posts a GitHub push payload to the change hook, signed with
// secret ("": unsigned), and returns the HTTP status.
func (m *master) postHook(payload []byte, secret string) int {
	m.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.www+"/change_hook/github", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(payload)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebhookPushIsBuilt: a signed GitHub push on the change hook becomes a
// change and a build; an unsigned one is refused and adds nothing.
func TestWebhookPushIsBuilt(t *testing.T) {
	t.Parallel()
	repo := gitRepo(t)
	m := startMaster(t, strings.ReplaceAll(sourcesConfig, "REPO", repo))
	startWorker(t, m, "w1", "pw1")
	m.waitPolls("repo", 1)
	sha := git(t, repo, "rev-parse", "HEAD")
	payload := githubPush(repo, "main", sha)
	if code := m.postHook(payload, ""); code != http.StatusForbidden {
		t.Fatalf("unsigned push: HTTP %d", code)
	}
	if code := m.postHook(payload, "hooksecret"); code != http.StatusOK {
		t.Fatalf("signed push: HTTP %d", code)
	}
	b := m.waitBuild("app", 1)
	if *b.Results != 0 {
		t.Fatalf("app #1: %d", *b.Results)
	}
	if got := m.stepLog(b.Buildid, "show"); !strings.Contains(got, "rev="+sha) {
		t.Fatalf("show log:\n%s", got)
	}
	var page struct{ Changes []map[string]any }
	_, body := m.wwwGet("/api/v2/changes")
	json.Unmarshal(body, &page)
	if len(page.Changes) != 1 || page.Changes[0]["author"] != "Bob <bob@example.org>" {
		t.Fatalf("changes: %s", body)
	}
}

// TestTreeStableTimerBatches: changes that come within the tree-stable
// timer make one build, on the newest change. They come in one push, so
// that they are well within the timer however loaded the machine is.
func TestTreeStableTimerBatches(t *testing.T) {
	t.Parallel()
	repo := gitRepo(t)
	m := startMaster(t, strings.ReplaceAll(sourcesConfig, "REPO", repo))
	startWorker(t, m, "w1", "pw1")
	ids := []string{strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)}
	if code := m.postHook(githubPush(repo, "batch", ids...), "hooksecret"); code != http.StatusOK {
		t.Fatalf("push: HTTP %d", code)
	}
	b := m.waitBuild("batch", 1)
	if *b.Results != 0 {
		t.Fatalf("batch #1: %d", *b.Results)
	}
	var props struct {
		Properties []map[string][]any `json:"properties"`
	}
	_, body := m.wwwGet(fmt.Sprintf("/api/v2/builds/%d/properties", b.Buildid))
	json.Unmarshal(body, &props)
	if !strings.Contains(string(body), `"revision":["`+ids[2]+`"`) {
		t.Fatalf("build properties: %s", body)
	}
	// Nothing else was queued: one buildset, one request.
	_, body = m.wwwGet("/api/v2/buildrequests?field=buildrequestid")
	if !strings.Contains(string(body), `"total":1`) {
		t.Fatalf("requests: %s", body)
	}
}
