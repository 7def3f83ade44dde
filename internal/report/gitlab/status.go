// Package gitlab sends commit statuses to GitLab (Buildbot's
// GitLabStatusPush, reporter type gitlab_status). Send takes one report and
// returns nil, an error wrapping report.ErrSkipped, or a *report.SendError;
// the token never appears in an error.
package gitlab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/buildmaster/buildmaster/internal/report"
)

// HostedBaseURL is gitlab.com.
const HostedBaseURL = "https://gitlab.com"

// Config configures a gitlab_status reporter.
type Config struct {
	// BaseURL of the GitLab instance; empty means HostedBaseURL.
	BaseURL string
	Token   string
	// Context is the status name, a template (see internal/interpolate);
	// empty means report.DefaultStatusContext.
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

// DefaultGenerators are Buildbot's for GitLabStatusPush: every start and
// end of every build.
func DefaultGenerators() []report.Generator {
	return []report.Generator{report.BuildStartEndGenerator{}}
}

// New checks the config and returns the client.
func New(c Config) (*Status, error) {
	s := &Status{base: c.BaseURL, token: c.Token, poster: report.NewHTTPPoster(c.HTTP)}
	if s.base == "" {
		s.base = HostedBaseURL
	}
	if _, err := report.JoinURL(s.base); err != nil {
		return nil, fmt.Errorf("gitlab_status: %w", err)
	}
	var err error
	if s.text, err = report.ParseStatusText(c.Context, c.StartDescription, c.EndDescription); err != nil {
		return nil, fmt.Errorf("gitlab_status: %w", err)
	}
	return s, nil
}

// State maps a build to GitLab's status state as Buildbot does: pending
// before it starts, running while it runs; SUCCESS, WARNINGS and SKIPPED
// are success; FAILURE and EXCEPTION failed; CANCELLED canceled; RETRY
// pending; anything else failed.
func State(b *report.Build) string {
	if !b.Complete {
		if b.StartedAt.IsZero() {
			return "pending"
		}
		return "running"
	}
	switch b.Results {
	case report.Success, report.Warnings, report.Skipped:
		return "success"
	case report.Cancelled:
		return "canceled"
	case report.Retry:
		return "pending"
	}
	return "failed"
}

// statusBody is GitLab's "set the pipeline status of a commit" parameters.
type statusBody struct {
	State       string `json:"state"`
	Ref         string `json:"ref,omitempty"`
	Name        string `json:"name,omitempty"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
}

// Send posts one status per source stamp with a revision and a project:
// the source_project_id property, else the repository URL's path
// (URL-encoded, which GitLab takes in place of the id). The ref is the
// source_branch property, else the source stamp's branch. It stops at the
// first failure; statuses are idempotent.
func (s *Status) Send(ctx context.Context, r *report.Report) error {
	b := r.Build
	if b == nil {
		return report.Skipf("gitlab_status reports builds, not %s", r.Event)
	}
	name, desc := s.text.Render(r)
	body := statusBody{State: State(b), Name: name, TargetURL: b.URL, Description: desc}
	sent := 0
	for _, ss := range b.SourceStamps {
		project := b.PropertyString("source_project_id")
		if project == "" {
			repo, err := report.ParseRepoURL(ss.Repository)
			if err != nil {
				continue
			}
			project = repo.Path()
		}
		if ss.Revision == "" {
			continue
		}
		body.Ref = ss.Branch
		if ref := b.PropertyString("source_branch"); ref != "" {
			body.Ref = ref
		}
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		u, err := report.JoinURL(s.base, "api", "v4", "projects", project, "statuses", ss.Revision)
		if err != nil {
			return &report.SendError{Target: "gitlab_status", Err: err}
		}
		if err := s.poster.PostJSON(ctx, u, http.Header{"Private-Token": {s.token}}, data, s.token); err != nil {
			return err
		}
		sent++
	}
	if sent == 0 {
		return report.Skipf("gitlab_status: no source stamp names a project and a revision")
	}
	return nil
}
