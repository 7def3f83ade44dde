package reporters_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestTokenFromSecretsDir: `token: {secret: ghtoken}` is read from the
// config's dir secrets provider when the config is loaded; GitHub gets it,
// and it is in no log, no reporter state, no error, even when GitHub echoes
// it back. A reconfig naming a secret no provider has is refused, naming
// the field and the secret, and changes nothing.
func TestTokenFromSecretsDir(t *testing.T) {
	const value = "ghp-s3cret-t0ken-value"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ghtoken"), []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gh := reportertest.NewFakeHTTP(t)
	gh.Queue(reportertest.Answer{Status: 401, Body: `{"message": "Bad credentials: ` + value + `"}`})
	logger, logs := testkit.NewLogs()
	m := mastertest.Start(t, fmt.Sprintf(`%s
secrets: [{type: dir, path: %q}]
reporters:
  - {name: gh, type: github_status, base_url: %q, token: {secret: ghtoken}, mode: [all], report_start: false}
`, builders, dir, gh.URL), "", logger)
	e := &env{t: t, m: m}
	testkit.Eventually(t, "the reporter in the state", func() bool { return state.ReporterRow(m.RT.DB.Read(), "gh") != nil })
	e.build("app", "aaa", state.ResultFailure) // refused 401: dropped
	e.build("app", "bbb", state.ResultSuccess)
	e.drained("gh")
	reqs := gh.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "token "+value {
			t.Errorf("Authorization %q, want the secret's value", got)
		}
	}
	st := e.state("gh")
	if !strings.Contains(st.GetLastError(), "401") {
		t.Errorf("last error %q, want the 401", st.GetLastError())
	}
	bad := proto.CloneOf(m.RT.Config())
	bad.Reporters = append(bad.Reporters, &messages.ReporterConfig{Name: "gl", Type: "gitlab_status", Token: config.SecretRef("nope")})
	res, err := ask.Ask[*messages.ReconfigureResponse](context.Background(), m.RT.System.Root, m.PID,
		&messages.ReconfigureRequest{Token: mastertest.Token, Config: bad})
	if err != nil || res.GetOk() || len(res.GetErrors()) != 1 ||
		!strings.Contains(res.GetErrors()[0].GetMessage(), `reporters[1].token: secret "nope" not found`) {
		t.Errorf("reconfig with a missing secret: %v %v", res, err)
	}
	if state.ReporterRow(m.RT.DB.Read(), "gl") != nil {
		t.Error("the refused reconfig added its reporter")
	}
	for what, text := range map[string]string{"the log": logs.String(), "the reporter's state": st.String(), "the reconfig's answer": fmt.Sprint(res)} {
		if strings.Contains(text, value) {
			t.Errorf("%s shows the token:\n%s", what, text)
		}
	}
}

// TestHeaderFromSecretsDir: an http_push header `{secret: NAME}` is read
// from the dir provider and sent with each POST to a local target; when
// the target echoes it back in a refusal, neither the log nor the
// reporter's state shows it. A header naming a secret no provider has
// fails the reconfig, naming the header and the secret.
func TestHeaderFromSecretsDir(t *testing.T) {
	const value = "hook-s3cret-header"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hooktoken"), []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := reportertest.NewFakeHTTP(t)
	hook.Queue(reportertest.Answer{Status: 400, Body: "bad token " + value})
	logger, logs := testkit.NewLogs()
	m := mastertest.Start(t, fmt.Sprintf(`%s
secrets: [{type: dir, path: %q}]
reporters:
  - {name: hook, type: http_push, url: %q, mode: [all], report_start: false, headers: {X-Token: {secret: hooktoken}, X-Other: plain}}
`, builders, dir, hook.URL), "", logger)
	e := &env{t: t, m: m}
	testkit.Eventually(t, "the reporter in the state", func() bool { return state.ReporterRow(m.RT.DB.Read(), "hook") != nil })
	e.build("app", "aaa", state.ResultFailure) // refused 400: dropped
	e.build("app", "bbb", state.ResultSuccess)
	e.drained("hook")
	reqs := hook.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.Header.Get("X-Token") != value || r.Header.Get("X-Other") != "plain" {
			t.Errorf("headers %v, want the secret's value and the plain one", r.Header)
		}
	}
	st := e.state("hook")
	if !strings.Contains(st.GetLastError(), "400") {
		t.Errorf("last error %q, want the 400", st.GetLastError())
	}
	bad := proto.CloneOf(m.RT.Config())
	bad.Reporters[0].Headers["X-Token"] = config.SecretRef("nope")
	res, err := ask.Ask[*messages.ReconfigureResponse](context.Background(), m.RT.System.Root, m.PID,
		&messages.ReconfigureRequest{Token: mastertest.Token, Config: bad})
	if err != nil || res.GetOk() || len(res.GetErrors()) != 1 ||
		!strings.Contains(res.GetErrors()[0].GetMessage(), `reporters[0].headers.X-Token: secret "nope" not found`) {
		t.Errorf("reconfig with a missing secret: %v %v", res, err)
	}
	for what, text := range map[string]string{"the log": logs.String(), "the reporter's state": st.String(), "the reconfig's answer": fmt.Sprint(res)} {
		if strings.Contains(text, value) {
			t.Errorf("%s shows the header:\n%s", what, text)
		}
	}
}
