package changes_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/messages"
)

const (
	baseSecret   = "base-s3cret"
	githubSecret = "gh-s3cret"
)

const hooksConfig = `change_sources:
  - {name: base_hook, change_hook: {dialect: base, secret: ` + baseSecret + `}}
  - {name: gh_hook, change_hook: {dialect: github, secret: ` + githubSecret + `}}
`

type reply struct {
	status int
	body   string
	ids    []uint64
}

func post(t *testing.T, www, dialect string, hdr map[string]string, body []byte) reply {
	t.Helper()
	return postReader(t, www, dialect, hdr, bytes.NewReader(body))
}

// postReader posts body to the hook of dialect: with its length when body is a
// *bytes.Reader, else chunked.
func postReader(t *testing.T, www, dialect string, hdr map[string]string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+www+"/change_hook/"+dialect, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, body: string(b)}
	var out struct {
		Changeids []uint64 `json:"changeids"`
	}
	if json.Unmarshal(b, &out) == nil {
		r.ids = out.Changeids
	}
	for _, s := range []string{baseSecret, githubSecret} {
		if strings.Contains(r.body, s) {
			t.Fatalf("the answer shows a secret: %s", r.body)
		}
	}
	return r
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func expect(t *testing.T, what string, r reply, status int, contains string) {
	t.Helper()
	if r.status != status || !strings.Contains(r.body, contains) {
		t.Fatalf("%s: %d %s; want %d containing %q", what, r.status, r.body, status, contains)
	}
}

func noChanges(t *testing.T, m *master.Master, what string) {
	t.Helper()
	if cs := allChanges(m); len(cs) != 0 {
		t.Fatalf("%s: %d changes added", what, len(cs))
	}
}

// TestBaseHook: the base hook needs the secret as a bearer token (a
// stranger's wrong ones are logged within the refusal budget), takes
// Buildbot's form and JSON fields, and answers once the change is durable.
func TestBaseHook(t *testing.T) {
	logs := &logRecords{}
	m, www := startMaster(t, "", hooksConfig, slog.New(logs), mastertest.RefusalsStandStill)
	form := url.Values{"who": {"alice"}, "comments": {"fix it"}, "revision": {"abc123"}, "branch": {"main"},
		"repository": {"https://example.com/r.git"}, "project": {"p"}, "category": {"c"}, "revlink": {"https://example.com/abc123"},
		"when_timestamp": {"1700000000"}, "files": {`["a.c","b/c.h"]`}, "properties": {`{"k":"v","n":3}`}, "codebase": {"cb"}}
	formHdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	expect(t, "no token", post(t, www, "base", formHdr, []byte(form.Encode())), http.StatusUnauthorized, "Authorization: Bearer")
	formHdr["Authorization"] = "Bearer wrong"
	expect(t, "wrong token", post(t, www, "base", formHdr, []byte(form.Encode())), http.StatusForbidden, "not the change hook's secret")
	formHdr["Authorization"] = "Basic " + baseSecret
	expect(t, "not a bearer", post(t, www, "base", formHdr, []byte(form.Encode())), http.StatusUnauthorized, "Bearer")
	noChanges(t, m, "refused requests")
	refusals := logs.matching(slog.LevelWarn, "change hook")
	if len(refusals) != 3 {
		t.Fatalf("%d refusals logged, want 3: %q", len(refusals), refusals)
	}
	for _, l := range refusals {
		if strings.Contains(l, baseSecret) || strings.Contains(l, "wrong") {
			t.Fatalf("the log shows a token: %s", l)
		}
		if !strings.Contains(l, "peer=127.0.0.1:") {
			t.Fatalf("a refusal without its peer: %s", l)
		}
	}
	// A stranger who keeps trying is logged within Runtime.Refusals' budget:
	// its clock stands still, so the source's burst, then nothing.
	formHdr["Authorization"] = "Bearer wrong"
	for range 3 * droplog.DefaultSourceBurst {
		expect(t, "wrong token", post(t, www, "base", formHdr, []byte(form.Encode())), http.StatusForbidden, "not the change hook's secret")
	}
	if n := len(logs.matching(slog.LevelWarn, "change hook")); n != droplog.DefaultSourceBurst {
		t.Fatalf("%d refused requests logged %d lines, want %d", 3*droplog.DefaultSourceBurst+3, n, droplog.DefaultSourceBurst)
	}

	formHdr["Authorization"] = "Bearer " + baseSecret
	r := post(t, www, "base", formHdr, []byte(form.Encode()))
	expect(t, "form", r, http.StatusOK, "changeids")
	if !slices.Equal(r.ids, []uint64{1}) {
		t.Fatalf("ids %v", r.ids)
	}
	c := allChanges(m)[0]
	if c.Author != "alice" || c.Comments != "fix it" || c.Revision != "abc123" || c.Branch != "main" ||
		c.Repository != "https://example.com/r.git" || c.Project != "p" || c.Category != "c" || c.Revlink != "https://example.com/abc123" ||
		c.WhenTimestamp != 1700000000 || !slices.Equal(c.Files, []string{"a.c", "b/c.h"}) || c.Codebase != "cb" ||
		len(c.Properties) != 2 || c.Properties[0].Name != "k" || c.Properties[0].ValueJson != `"v"` || c.Properties[1].ValueJson != "3" {
		t.Fatalf("stored %v", c)
	}

	jsonHdr := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + baseSecret}
	r = post(t, www, "base", jsonHdr, []byte(`{"author":"bob","branch":"dev","files":["x"],"properties":{"p":[1]}}`))
	expect(t, "json", r, http.StatusOK, "changeids")
	c = allChanges(m)[r.ids[0]-1]
	if c.Author != "bob" || c.Branch != "dev" || !slices.Equal(c.Files, []string{"x"}) || c.WhenTimestamp == 0 ||
		len(c.Properties) != 1 || c.Properties[0].ValueJson != "[1]" {
		t.Fatalf("stored %v", c)
	}

	// Bad changes: 400 with the reason, nothing added.
	n := len(allChanges(m))
	expect(t, "no author", post(t, www, "base", jsonHdr, []byte(`{"branch":"x"}`)), http.StatusBadRequest, "change.author is required")
	expect(t, "bad files", post(t, www, "base", jsonHdr, []byte(`{"author":"a","files":"nope"}`)), http.StatusBadRequest, "files")
	expect(t, "bad json", post(t, www, "base", jsonHdr, []byte(`{`)), http.StatusBadRequest, "not a JSON object")
	expect(t, "bad time", post(t, www, "base", jsonHdr, []byte(`{"author":"a","when_timestamp":"soon"}`)), http.StatusBadRequest, "when_timestamp")
	if len(allChanges(m)) != n {
		t.Fatal("a bad change was added")
	}

	// Method.
	res, err := http.Get("http://" + www + "/change_hook/base")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", res.StatusCode)
	}
}

// TestHookNotConfiguredOrWithoutSecret: a dialect nobody configured is not
// found; a hook without a secret refuses everything, and says why.
func TestHookNotConfiguredOrWithoutSecret(t *testing.T) {
	m, www := startMaster(t, "", "change_sources:\n  - {name: open, change_hook: {dialect: base}}\n", nil)
	hdr := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer "}
	expect(t, "no secret", post(t, www, "base", hdr, []byte(`{"author":"a"}`)), http.StatusForbidden, `(dialect base) has no secret, so it refuses every request; set change_hook.secret`)
	expect(t, "github", post(t, www, "github", hdr, []byte(`{}`)), http.StatusNotFound, "no change_hook of dialect")
	expect(t, "unknown", post(t, www, "gitlab", hdr, []byte(`{}`)), http.StatusNotFound, "no change_hook of dialect")
	noChanges(t, m, "no secret")

	// The hooks in force are read at each request: a reconfig gives the
	// hook a secret, and it takes requests with it.
	res, err := m.Request(context.Background(), &messages.ReconfigureRequest{Token: token, ConfigName: "t.yaml",
		ConfigYaml: fmt.Appendf(nil, "listen: %s\nchange_sources:\n  - {name: open, change_hook: {dialect: base, secret: %s}}\n",
			listenOf(m), baseSecret)})
	if r, ok := res.(*messages.ReconfigureResponse); err != nil || !ok || !r.GetOk() {
		t.Fatalf("reconfig: %v %v", res, err)
	}
	hdr["Authorization"] = "Bearer " + baseSecret
	if r := post(t, www, "base", hdr, []byte(`{"author":"a"}`)); r.status != http.StatusOK || len(r.ids) != 1 {
		t.Fatalf("after the reconfig: %d %s", r.status, r.body)
	}

	_, www = startMaster(t, "", "", nil)
	expect(t, "none", post(t, www, "base", hdr, []byte(`{}`)), http.StatusNotFound, "no change_hook of dialect")
}

const pushTwo = `{
  "ref": "refs/heads/main", "created": false, "deleted": false,
  "repository": {"html_url": "https://github.com/o/r", "full_name": "o/r"},
  "head_commit": {"id": "2222", "message": "second"},
  "commits": [
    {"id": "1111", "message": "first\n\nbody", "timestamp": "2023-11-14T22:13:20Z", "url": "https://github.com/o/r/commit/1111",
     "distinct": true, "author": {"name": "Alice", "email": "alice@example.com"}, "committer": {"name": "Carol", "email": "carol@example.com"},
     "added": ["new.c"], "modified": ["old.c"], "removed": ["gone.c"]},
    {"id": "2222", "message": "second", "timestamp": "2023-11-14T23:13:20+01:00", "url": "https://github.com/o/r/commit/2222",
     "distinct": false, "author": {"name": "Bob", "email": "bob@example.com"}, "committer": {"name": "Bob", "email": "bob@example.com"},
     "modified": ["old.c"]}
  ]
}`

const pushTag = `{
  "ref": "refs/tags/v1.0", "created": true, "deleted": false,
  "repository": {"html_url": "https://github.com/o/r", "full_name": "o/r"},
  "head_commit": {"id": "3333", "message": "release", "timestamp": "2023-11-15T00:00:00Z", "url": "https://github.com/o/r/commit/3333",
    "author": {"name": "Alice", "email": "alice@example.com"}, "committer": {"name": "Alice", "email": "alice@example.com"}},
  "commits": []
}`

// TestGitHubHook: pushes signed with the secret become changes; anything
// unsigned or signed otherwise is refused and adds nothing.
func TestGitHubHook(t *testing.T) {
	m, www := startMaster(t, "", hooksConfig, nil)
	hdr := func(event, sig string) map[string]string {
		h := map[string]string{"Content-Type": "application/json", "X-GitHub-Event": event}
		if sig != "" {
			h["X-Hub-Signature-256"] = sig
		}
		return h
	}
	body := []byte(pushTwo)
	expect(t, "missing signature", post(t, www, "github", hdr("push", ""), body), http.StatusForbidden, "no X-Hub-Signature-256")
	expect(t, "wrong secret", post(t, www, "github", hdr("push", sign("nope", body)), body), http.StatusForbidden, "does not match")
	expect(t, "other body", post(t, www, "github", hdr("push", sign(githubSecret, []byte("{}"))), body), http.StatusForbidden, "does not match")
	expect(t, "malformed", post(t, www, "github", hdr("push", "sha1=abc"), body), http.StatusForbidden, "sha256=")
	expect(t, "bearer is not enough", post(t, www, "github", map[string]string{"Content-Type": "application/json",
		"X-GitHub-Event": "push", "Authorization": "Bearer " + githubSecret}, body), http.StatusForbidden, "no X-Hub-Signature-256")
	noChanges(t, m, "bad signatures")

	ping := []byte(`{"zen":"hi"}`)
	expect(t, "ping", post(t, www, "github", hdr("ping", sign(githubSecret, ping)), ping), http.StatusOK, `"changeids":[]`)
	expect(t, "unsigned ping", post(t, www, "github", hdr("ping", ""), ping), http.StatusForbidden, "no X-Hub-Signature-256")
	expect(t, "other event", post(t, www, "github", hdr("issues", sign(githubSecret, ping)), ping), http.StatusOK, "ignored")
	noChanges(t, m, "ping")

	r := post(t, www, "github", hdr("push", sign(githubSecret, body)), body)
	expect(t, "push", r, http.StatusOK, "changeids")
	if !slices.Equal(r.ids, []uint64{1, 2}) {
		t.Fatalf("ids %v", r.ids)
	}
	cs := allChanges(m)
	c1, c2 := cs[0], cs[1]
	if c1.Author != "Alice <alice@example.com>" || c1.Committer != "Carol <carol@example.com>" || c1.Comments != "first\n\nbody" ||
		c1.Revision != "1111" || c1.WhenTimestamp != 1700000000 || c1.Branch != "main" || c1.Revlink != "https://github.com/o/r/commit/1111" ||
		c1.Repository != "https://github.com/o/r" || c1.Project != "o/r" || c1.Category != "" ||
		!slices.Equal(c1.Files, []string{"new.c", "old.c", "gone.c"}) {
		t.Fatalf("first change %v", c1)
	}
	if c2.Revision != "2222" || c2.WhenTimestamp != 1700000000 || c2.Author != "Bob <bob@example.com>" || c2.ParentChangeids[0] != 1 {
		t.Fatalf("second change %v", c2)
	}
	props := map[string]string{}
	for _, p := range c2.Properties {
		props[p.Name] = p.ValueJson
	}
	if props["event"] != `"push"` || props["github_distinct"] != "false" {
		t.Fatalf("properties %v", c2.Properties)
	}

	// A tag push, as Buildbot: the tag is the branch, the category "tag",
	// and a created ref gives its head commit.
	tag := []byte(pushTag)
	r = post(t, www, "github", hdr("push", sign(githubSecret, tag)), tag)
	expect(t, "tag", r, http.StatusOK, "changeids")
	if len(r.ids) != 1 {
		t.Fatalf("tag push ids %v", r.ids)
	}
	if c := allChanges(m)[2]; c.Branch != "v1.0" || c.Category != "tag" || c.Revision != "3333" {
		t.Fatalf("tag change %v", c)
	}

	// A deleted branch, a skip-CI push and a non-branch ref add nothing.
	for _, b := range []string{
		`{"ref":"refs/heads/gone","deleted":true,"commits":[]}`,
		`{"ref":"refs/heads/main","head_commit":{"id":"4","message":"wip [ci skip]"},"commits":[{"id":"4","message":"wip [ci skip]","author":{"name":"a","email":"e"}}]}`,
		`{"ref":"refs/notes/x","commits":[{"id":"5","author":{"name":"a","email":"e"}}]}`,
	} {
		expect(t, b, post(t, www, "github", hdr("push", sign(githubSecret, []byte(b))), []byte(b)), http.StatusOK, `"changeids":[]`)
	}
	// Form-encoded payload.
	form := []byte(url.Values{"payload": {strings.Replace(pushTwo, "refs/heads/main", "refs/heads/form", 1)}}.Encode())
	fh := hdr("push", sign(githubSecret, form))
	fh["Content-Type"] = "application/x-www-form-urlencoded"
	if r := post(t, www, "github", fh, form); r.status != http.StatusOK || len(r.ids) != 2 {
		t.Fatalf("form push: %d %s", r.status, r.body)
	}
	// A bad commit: 400, nothing added.
	bad := []byte(`{"ref":"refs/heads/main","commits":[{"id":"6","message":"no author"}]}`)
	n := len(allChanges(m))
	expect(t, "bad commit", post(t, www, "github", hdr("push", sign(githubSecret, bad)), bad), http.StatusBadRequest, "change.author is required")
	if len(allChanges(m)) != n {
		t.Fatal("a bad change was added")
	}
}

// padded is the JSON change {"author": "a"} padded with spaces to n bytes.
func padded(n int) []byte {
	b := []byte(`{"author":"a"`)
	return append(append(b, bytes.Repeat([]byte(" "), n-len(b)-1)...), '}')
}

// postChunked posts body to the base hook without saying its length.
func postChunked(t *testing.T, www string, hdr map[string]string, body []byte) int {
	t.Helper()
	return postReader(t, www, "base", hdr, io.MultiReader(bytes.NewReader(body))).status
}

// TestHookBodyLimit: a hook body over http.max_body_bytes (default 1 MiB)
// is refused with 413, whether its length is said or not, and adds nothing;
// the limit is read at each request, so a reconfig changes it.
func TestHookBodyLimit(t *testing.T) {
	m, www := startMaster(t, "", hooksConfig, nil)
	hdr := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + baseSecret}
	big := padded(1<<20 + 1)
	expect(t, "over 1 MiB", post(t, www, "base", hdr, big), http.StatusRequestEntityTooLarge, "the body is larger than 1048576 bytes")
	if code := postChunked(t, www, hdr, big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over 1 MiB, chunked: %d", code)
	}
	gh := map[string]string{"Content-Type": "application/json", "X-GitHub-Event": "push", "X-Hub-Signature-256": sign(githubSecret, big)}
	expect(t, "github over 1 MiB", post(t, www, "github", gh, big), http.StatusRequestEntityTooLarge, "larger than")
	noChanges(t, m, "oversized bodies")
	if r := post(t, www, "base", hdr, padded(1<<20)); r.status != http.StatusOK || len(r.ids) != 1 {
		t.Fatalf("1 MiB: %d %s", r.status, r.body)
	}

	res, err := m.Request(context.Background(), &messages.ReconfigureRequest{Token: token, ConfigName: "t.yaml",
		ConfigYaml: fmt.Appendf(nil, "listen: %s\nhttp: {max_body_bytes: 100}\n%s", listenOf(m), hooksConfig)})
	if r, ok := res.(*messages.ReconfigureResponse); err != nil || !ok || !r.GetOk() {
		t.Fatalf("reconfig: %v %v", res, err)
	}
	n := len(allChanges(m))
	expect(t, "over 100 bytes", post(t, www, "base", hdr, padded(101)), http.StatusRequestEntityTooLarge, "the body is larger than 100 bytes")
	if code := postChunked(t, www, hdr, padded(101)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over 100 bytes, chunked: %d", code)
	}
	if len(allChanges(m)) != n {
		t.Fatal("an oversized body added a change")
	}
	if r := post(t, www, "base", hdr, padded(100)); r.status != http.StatusOK || len(r.ids) != 1 {
		t.Fatalf("100 bytes: %d %s", r.status, r.body)
	}
}
