// Package setup turns a reporter's configuration (messages.ReporterConfig,
// the `reporters:` list of the config file) into what runs it: the
// generators the state's outbox applies (Generators), the client that
// sends (NewSender) and its retry policy (Policy). It is pure: the secrets
// a client needs come from the Provider the caller passes. Validate checks
// a configuration offline, without reading any secret.
package setup

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/report/github"
	"github.com/buildmaster/buildmaster/internal/report/gitlab"
	"github.com/buildmaster/buildmaster/internal/report/httppush"
	"github.com/buildmaster/buildmaster/internal/report/mail"
	"github.com/buildmaster/buildmaster/messages"
)

// Types are the reporter types.
var Types = []string{"github_status", "github_comment", "gitlab_status", "http_push", "mail"}

// Provider gives a secret's value by name (internal/secrets' Provider).
type Provider interface {
	Get(ctx context.Context, name string) (string, error)
}

// Options are what the clients need besides their configuration.
type Options struct {
	// Secrets resolves {secret: NAME}; nil refuses every secret name.
	Secrets Provider
	// Title is the master's title, for mail subjects.
	Title string
	// Transport, when set, is the HTTP clients' transport (tests).
	Transport http.RoundTripper
	// MailTLS, when set, is the mail client's TLS config (a private CA).
	MailTLS *tls.Config
}

// Generators returns what c's generators want, as the state's reporters
// table stores them: with mode given, Buildbot's BuildStatusGenerator with
// the modes and filters (reporting starts unless report_start is false, or
// for mail unless it is true); without, the type's default generators with
// the filters.
func Generators(c *messages.ReporterConfig) ([]*messages.ReportGenerator, error) {
	g := &messages.ReportGenerator{Builders: c.GetBuilders(), Tags: c.GetTags(), Schedulers: c.GetSchedulers(), Branches: c.GetBranches()}
	switch {
	case len(c.GetMode()) > 0:
		modes, err := modes(c.GetMode())
		if err != nil {
			return nil, err
		}
		g.Kind = messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_STATUS
		g.Modes = modes
		g.ReportStart = c.GetType() != "mail"
		if c.ReportStart != nil {
			g.ReportStart = c.GetReportStart()
		}
	case c.GetType() == "github_status" || c.GetType() == "github_comment" || c.GetType() == "gitlab_status":
		g.Kind = messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_START_END
	case c.GetType() == "http_push":
		g.Kind, g.ReportStart = messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_STATUS, true
	default: // mail
		g.Kind = messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_STATUS
	}
	if err := (report.Filter{Builders: g.Builders, Tags: g.Tags}).Validate(); err != nil {
		return nil, err
	}
	return []*messages.ReportGenerator{g}, nil
}

// modes reads mode: [all], or a list of Buildbot's modes, each standing
// for itself (as Buildbot's tuple of modes).
func modes(list []string) ([]string, error) {
	var ms []report.Mode
	var err error
	switch {
	case len(list) == 1 && list[0] == "all":
		ms, err = report.ParseMode("all")
	case slices.Contains(list, "all"):
		return nil, errors.New("mode: all stands for failing, passing, warnings, exception and cancelled; give it alone, as mode: [all]")
	default:
		ms, err = report.ParseModes(list)
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out, nil
}

// Policy is c's retry policy.
func Policy(c *messages.ReporterConfig) report.RetryPolicy {
	return report.RetryPolicy{Initial: c.GetRetryInitial().AsDuration(), Max: c.GetRetryMax().AsDuration(),
		Lifetime: c.GetLifetime().AsDuration()}
}

// Timeout bounds one send of c's.
func Timeout(c *messages.ReporterConfig) time.Duration {
	if d := c.GetTimeout().AsDuration(); d > 0 {
		return d
	}
	return report.DefaultHTTPTimeout
}

// NewSender returns the client of c, its secrets read from o.Secrets.
func NewSender(ctx context.Context, c *messages.ReporterConfig, o Options) (report.Sender, error) {
	token, err := secret(ctx, o.Secrets, "token", c.GetToken())
	if err != nil {
		return nil, err
	}
	password, err := secret(ctx, o.Secrets, "password", c.GetPassword())
	if err != nil {
		return nil, err
	}
	httpOpts := report.HTTPOptions{Timeout: Timeout(c), Transport: o.Transport}
	switch c.GetType() {
	case "github_status":
		return github.NewStatus(github.StatusConfig{BaseURL: c.GetBaseUrl(), Token: token, Context: c.GetContext(), HTTP: httpOpts})
	case "github_comment":
		return github.NewComment(github.CommentConfig{BaseURL: c.GetBaseUrl(), Token: token, HTTP: httpOpts})
	case "gitlab_status":
		return gitlab.New(gitlab.Config{BaseURL: c.GetBaseUrl(), Token: token, Context: c.GetContext(), HTTP: httpOpts})
	case "http_push":
		return httppush.New(httppush.Config{URL: c.GetUrl(), Headers: c.GetHeaders(), Username: c.GetUsername(), Password: password, HTTP: httpOpts})
	case "mail":
		return mail.New(mail.Config{From: c.GetFrom(), Relay: c.GetRelay(), TLS: mail.TLSMode(c.GetTls()), Username: c.GetUsername(),
			Password: password, ExtraRecipients: c.GetExtraRecipients(), OnlyExtraRecipients: c.GetOnlyExtraRecipients(),
			Title: o.Title, TLSConfig: o.MailTLS, Timeout: Timeout(c)})
	}
	return nil, fmt.Errorf("type %q is not a reporter type (want one of %v)", c.GetType(), Types)
}

// secret reads v: its literal value, or the value of the secret it names.
func secret(ctx context.Context, p Provider, field string, v *messages.SecretValue) (string, error) {
	switch {
	case v.GetSecret() != "" && v.GetValue() != "":
		return "", fmt.Errorf("%s: give secret or value, not both", field)
	case v.GetSecret() == "":
		return v.GetValue(), nil
	case p == nil:
		return "", fmt.Errorf("%s: secret %q: no secrets provider", field, v.GetSecret())
	}
	s, err := p.Get(ctx, v.GetSecret())
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return s, nil
}

// Validate checks c offline: its type and fields, its generators. Secrets
// named are not read (a placeholder stands in for them).
func Validate(c *messages.ReporterConfig) error {
	if !slices.Contains(Types, c.GetType()) {
		return fmt.Errorf("type %q is not a reporter type (want one of %v)", c.GetType(), Types)
	}
	if _, err := Generators(c); err != nil {
		return err
	}
	_, err := NewSender(context.Background(), c, Options{Secrets: placeholder{}})
	return err
}

type placeholder struct{}

func (placeholder) Get(_ context.Context, name string) (string, error) {
	if name == "" {
		return "", errors.New("empty secret name")
	}
	return "placeholder", nil
}
