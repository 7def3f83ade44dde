// Package httppush posts builds as JSON to any HTTP endpoint (Buildbot's
// HttpStatusPush, reporter type http_push). The body has the shape of
// Buildbot's build dictionary, so a receiver written for Buildbot reads it.
// Send takes one report and returns nil, an error wrapping
// report.ErrSkipped, or a *report.SendError; header values and the
// password never appear in an error.
package httppush

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"

	"github.com/buildmaster/buildmaster/internal/report"
)

// Config configures an http_push reporter.
type Config struct {
	// URL receives the POSTs.
	URL string
	// Headers are added to each request (they may hold tokens).
	Headers map[string]string
	// Username and Password, when Username is set, are sent as basic auth.
	Username string
	Password string
	HTTP     report.HTTPOptions
}

// Client posts builds.
type Client struct {
	url     *url.URL
	header  http.Header
	secrets []string // header values and the password
	poster  *report.HTTPPoster
}

// DefaultGenerators are Buildbot's for HttpStatusPush: each build's start,
// and its end when failing, passing or with warnings.
func DefaultGenerators() []report.Generator {
	return []report.Generator{report.BuildStatusGenerator{ReportStart: true}}
}

// New checks the config and returns the client.
func New(c Config) (*Client, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("http_push: url %q: want http(s)://host/path", report.RedactURL(c.URL))
	}
	h := http.Header{}
	secrets := []string{c.Password}
	for k, v := range c.Headers {
		if k == "" || !validHeader(k) || !validHeader(v) {
			return nil, fmt.Errorf("http_push: header %q: name or value has control characters", k)
		}
		h.Set(k, v)
		secrets = append(secrets, v)
	}
	if c.Username != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password)))
	}
	return &Client{url: u, header: h, secrets: secrets, poster: report.NewHTTPPoster(c.HTTP)}, nil
}

func validHeader(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' && s[i] != '\t' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// Send posts the build.
func (c *Client) Send(ctx context.Context, r *report.Report) error {
	if r.Build == nil {
		return report.Skipf("http_push reports builds, not %s", r.Event)
	}
	body, err := Body(r)
	if err != nil {
		return &report.SendError{Target: "http_push", Err: fmt.Errorf("encoding build %d: %w", r.Build.BuildID, err)}
	}
	return c.poster.PostJSON(ctx, c.url, c.header, body, c.secrets...)
}
