package reporters_test

import (
	"context"
	"fmt"
	"net/http"
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

// TestSecretsFromDir: a reporter's `{secret: NAME}` (a GitHub token, an
// http_push header) is read from the config's dir secrets provider when
// the config is loaded; the local target gets it, and it is in no log, no
// reporter state, no error, even when the target echoes it back in a
// refusal. A reconfig naming a secret no provider has is refused, naming
// the field and the secret, and changes nothing.
func TestSecretsFromDir(t *testing.T) {
	for _, tc := range []struct {
		name, value, reporter string
		refusal               int
		// sent checks what the target got.
		sent func(h http.Header) error
		// missing refers to secret "nope" in cfg, in the field want names.
		missing func(cfg *messages.MasterConfig)
		want    string
	}{{
		name: "github token", value: "ghp-s3cret-t0ken-value", refusal: 401,
		reporter: "{name: r, type: github_status, base_url: %q, token: {secret: s}, mode: [all], report_start: false}",
		sent: func(h http.Header) error {
			if h.Get("Authorization") != "token ghp-s3cret-t0ken-value" {
				return fmt.Errorf("Authorization %q, want the secret's value", h.Get("Authorization"))
			}
			return nil
		},
		missing: func(cfg *messages.MasterConfig) {
			cfg.Reporters = append(cfg.Reporters, &messages.ReporterConfig{Name: "gl", Type: "gitlab_status", Token: config.SecretRef("nope")})
		},
		want: `reporters[1].token: secret "nope" not found`,
	}, {
		name: "http_push header", value: "hook-s3cret-header", refusal: 400,
		reporter: "{name: r, type: http_push, url: %q, mode: [all], report_start: false, headers: {X-Token: {secret: s}, X-Other: plain}}",
		sent: func(h http.Header) error {
			if h.Get("X-Token") != "hook-s3cret-header" || h.Get("X-Other") != "plain" {
				return fmt.Errorf("headers %v, want the secret's value and the plain one", h)
			}
			return nil
		},
		missing: func(cfg *messages.MasterConfig) { cfg.Reporters[0].Headers["X-Token"] = config.SecretRef("nope") },
		want:    `reporters[0].headers.X-Token: secret "nope" not found`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "s"), []byte(tc.value+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			target := reportertest.NewFakeHTTP(t)
			target.Queue(reportertest.Answer{Status: tc.refusal, Body: `{"message": "bad credentials: ` + tc.value + `"}`})
			logger, logs := testkit.NewLogs()
			m := mastertest.Start(t, fmt.Sprintf("%s\nsecrets: [{type: dir, path: %q}]\nreporters:\n  - "+tc.reporter+"\n",
				builders, dir, target.URL), "", logger)
			e := &env{t: t, m: m}
			testkit.Eventually(t, "the reporter in the state", func() bool { return state.ReporterRow(m.RT.DB.Read(), "r") != nil })
			e.build("app", "aaa", state.ResultFailure) // refused: dropped
			e.build("app", "bbb", state.ResultSuccess)
			e.drained("r")
			reqs := target.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			for _, r := range reqs {
				if err := tc.sent(r.Header); err != nil {
					t.Error(err)
				}
			}
			st := e.state("r")
			if !strings.Contains(st.GetLastError(), fmt.Sprint(tc.refusal)) {
				t.Errorf("last error %q, want the %d", st.GetLastError(), tc.refusal)
			}
			bad := proto.CloneOf(m.RT.Config())
			tc.missing(bad)
			res, err := ask.Ask[*messages.ReconfigureResponse](context.Background(), m.RT.System.Root, m.PID,
				&messages.ReconfigureRequest{Token: mastertest.Token, Config: bad})
			if err != nil || res.GetOk() || len(res.GetErrors()) != 1 || !strings.Contains(res.GetErrors()[0].GetMessage(), tc.want) {
				t.Errorf("reconfig with a missing secret: %v %v", res, err)
			}
			if state.ReporterRow(m.RT.DB.Read(), "gl") != nil {
				t.Error("the refused reconfig added its reporter")
			}
			for what, text := range map[string]string{"the log": logs.String(), "the reporter's state": st.String(), "the reconfig's answer": fmt.Sprint(res)} {
				if strings.Contains(text, tc.value) {
					t.Errorf("%s shows the secret:\n%s", what, text)
				}
			}
		})
	}
}
