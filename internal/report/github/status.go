// Package github sends reports to GitHub: commit statuses (Buildbot's
// GitHubStatusPush, reporter type github_status) and pull request comments
// (GitHubCommentPush, github_comment). Each client takes one report per
// Send and returns nil, an error wrapping report.ErrSkipped, or a
// *report.SendError; the token never appears in an error.
package github

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/buildmaster/buildmaster/internal/report"
)

// HostedBaseURL is github.com's API.
const HostedBaseURL = "https://api.github.com"

// maxDescription is GitHub's limit on a status description, in characters.
const maxDescription = 140

// StatusConfig configures a github_status reporter.
type StatusConfig struct {
	// BaseURL of the API; empty means HostedBaseURL (GitHub Enterprise:
	// https://HOST/api/v3).
	BaseURL string
	Token   string
	// Context is a template (see internal/interpolate); empty means
	// report.DefaultStatusContext.
	Context string
	// StartDescription and EndDescription are templates; empty means
	// Buildbot's "Build started." and "Build done.".
	StartDescription string
	EndDescription   string
	HTTP             report.HTTPOptions
}

// Status posts commit statuses.
type Status struct {
	base   string
	token  string
	text   report.StatusText
	poster *report.HTTPPoster
}

// DefaultGenerators are Buildbot's for GitHubStatusPush: every start and
// end of every build.
func DefaultGenerators() []report.Generator {
	return []report.Generator{report.BuildStartEndGenerator{}}
}

// NewStatus checks the config and returns the client.
func NewStatus(c StatusConfig) (*Status, error) {
	s := &Status{base: c.BaseURL, token: c.Token, poster: report.NewHTTPPoster(c.HTTP)}
	if s.base == "" {
		s.base = HostedBaseURL
	}
	if _, err := report.JoinURL(s.base); err != nil {
		return nil, fmt.Errorf("github_status: %w", err)
	}
	var err error
	if s.text, err = report.ParseStatusText(c.Context, c.StartDescription, c.EndDescription); err != nil {
		return nil, fmt.Errorf("github_status: %w", err)
	}
	return s, nil
}

// statusBody is GitHub's "create a commit status" body.
type statusBody struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context,omitempty"`
}

// State maps a build to GitHub's status state as Buildbot does: a running
// build is pending; SUCCESS, WARNINGS and SKIPPED are success; FAILURE is
// failure; EXCEPTION and CANCELLED are error; RETRY is pending; anything
// else is error.
func State(b *report.Build) string {
	if !b.Complete {
		return "pending"
	}
	switch b.Results {
	case report.Success, report.Warnings, report.Skipped:
		return "success"
	case report.Failure:
		return "failure"
	case report.Retry:
		return "pending"
	}
	return "error"
}

// Send posts one status per source stamp that names a GitHub repository
// and a revision, stopping at the first failure (statuses are idempotent,
// so a retry may repeat the ones that went through).
func (s *Status) Send(ctx context.Context, r *report.Report) error {
	if r.Build == nil {
		return report.Skipf("github_status reports builds, not %s", r.Event)
	}
	body, err := s.Body(r)
	if err != nil {
		return err
	}
	sent := 0
	for _, t := range targets(r.Build) {
		if t.sha == "" {
			continue
		}
		u, err := report.JoinURL(s.base, "repos", t.owner, t.repo, "statuses", t.sha)
		if err != nil {
			return &report.SendError{Target: "github_status", Err: err}
		}
		if err := s.poster.PostJSON(ctx, u, authHeader(s.token), body, s.token); err != nil {
			return err
		}
		sent++
	}
	if sent == 0 {
		return report.Skipf("github_status: no source stamp names a GitHub repository and a revision")
	}
	return nil
}

// Body is the JSON body of the status for r.
func (s *Status) Body(r *report.Report) ([]byte, error) {
	context, desc := s.text.Render(r)
	return json.Marshal(statusBody{
		State:       State(r.Build),
		TargetURL:   r.Build.URL,
		Description: truncate(desc, maxDescription),
		Context:     context,
	})
}

// target is one repository and revision a build is about.
type target struct{ owner, repo, sha string }

// targets reads owner and repository from each source stamp as Buildbot
// does: the project when it is "owner/repo", else the repository URL.
// Source stamps naming no GitHub-shaped repository are left out.
func targets(b *report.Build) []target {
	var out []target
	for _, ss := range b.SourceStamps {
		t := target{sha: ss.Revision}
		if owner, repo, ok := strings.Cut(ss.Project, "/"); ok && owner != "" && repo != "" && !strings.Contains(repo, "/") {
			t.owner, t.repo = owner, repo
		} else if parsed, err := report.ParseRepoURL(ss.Repository); err == nil && !strings.Contains(parsed.Owner, "/") {
			t.owner, t.repo = parsed.Owner, parsed.Name
		} else {
			continue
		}
		out = append(out, t)
	}
	return out
}

func authHeader(token string) http.Header {
	h := http.Header{"Accept": {"application/vnd.github+json"}, "X-Github-Api-Version": {"2022-11-28"}}
	if token != "" {
		h.Set("Authorization", "token "+token)
	}
	return h
}

// truncate cuts s to n characters, marking the cut with "…".
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
