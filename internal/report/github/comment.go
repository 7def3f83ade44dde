package github

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"github.com/buildmaster/buildmaster/internal/interpolate"
	"github.com/buildmaster/buildmaster/internal/report"
)

// CommentConfig configures a github_comment reporter.
type CommentConfig struct {
	// BaseURL of the API; empty means HostedBaseURL.
	BaseURL string
	Token   string
	// StartBody and EndBody are templates (see internal/interpolate); an
	// empty rendering posts nothing. Buildbot's defaults: nothing on
	// start, "Build done." on end.
	StartBody string
	EndBody   string
	HTTP      report.HTTPOptions
}

// Comment posts a comment on the pull request a build is for.
type Comment struct {
	base       string
	token      string
	start, end *interpolate.Template
	poster     *report.HTTPPoster
}

// NewComment checks the config and returns the client.
func NewComment(c CommentConfig) (*Comment, error) {
	cm := &Comment{base: c.BaseURL, token: c.Token, poster: report.NewHTTPPoster(c.HTTP)}
	if cm.base == "" {
		cm.base = HostedBaseURL
	}
	if _, err := report.JoinURL(cm.base); err != nil {
		return nil, fmt.Errorf("github_comment: %w", err)
	}
	if c.EndBody == "" {
		c.EndBody = "Build done."
	}
	var err error
	if cm.start, err = interpolate.Parse(c.StartBody); err != nil {
		return nil, fmt.Errorf("github_comment: start_body: %w", err)
	}
	if cm.end, err = interpolate.Parse(c.EndBody); err != nil {
		return nil, fmt.Errorf("github_comment: end_body: %w", err)
	}
	return cm, nil
}

// pullRef is the branch a pull request build has (Buildbot's
// GitHubCommentPush reads it from the branch property).
var pullRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`refs/pull/([0-9]+)/(?:head|merge)`) })

// pullURL is the pullrequesturl property Buildbot's GitHub hook sets.
var pullURL = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`/pull/([0-9]+)/?$`) })

// PullRequest returns the number of the pull request the build is for,
// from the branch property (refs/pull/N/merge or /head), else from the
// pullrequesturl property; 0 when neither says.
func PullRequest(b *report.Build) int {
	for _, m := range [][]string{pullRef().FindStringSubmatch(b.PropertyString("branch")),
		pullURL().FindStringSubmatch(b.PropertyString("pullrequesturl"))} {
		if m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// Send comments once per repository the build's source stamps name.
// Comments are not idempotent: a retry after a lost answer may comment twice.
func (c *Comment) Send(ctx context.Context, r *report.Report) error {
	if r.Build == nil {
		return report.Skipf("github_comment reports builds, not %s", r.Event)
	}
	tpl := c.end
	if !r.Build.Complete {
		tpl = c.start
	}
	text := tpl.Render(report.Values(r))
	if text == "" {
		return report.Skipf("github_comment: empty comment for %s", r.Event)
	}
	pr := PullRequest(r.Build)
	if pr == 0 {
		return report.Skipf("github_comment: build %d is not for a pull request", r.Build.BuildID)
	}
	body, err := json.Marshal(map[string]string{"body": text})
	if err != nil {
		return err
	}
	seen := map[target]bool{}
	for _, t := range targets(r.Build) {
		t.sha = ""
		if seen[t] {
			continue
		}
		seen[t] = true
		u, err := report.JoinURL(c.base, "repos", t.owner, t.repo, "issues", strconv.Itoa(pr), "comments")
		if err != nil {
			return &report.SendError{Target: "github_comment", Err: err}
		}
		if err := c.poster.PostJSON(ctx, u, authHeader(c.token), body, c.token); err != nil {
			return err
		}
	}
	if len(seen) == 0 {
		return report.Skipf("github_comment: no source stamp names a GitHub repository")
	}
	return nil
}
