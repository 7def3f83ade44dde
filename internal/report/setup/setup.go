// Package setup turns a reporter's configuration (messages.ReporterConfig,
// the `reporters:` list of the config file) into what runs it: the
// generators the state's outbox applies (Generators), the client that
// sends (NewSender) and its retry policy (Policy). It is pure: the token
// and password it is given are the values, the master having read the
// secrets they name (`{secret: NAME}`) from its secret providers when it
// loaded the config (config.ResolveSecrets). Validate checks a
// configuration offline.
package setup

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
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

// Options are what the clients need besides their configuration.
type Options struct {
	// Title is the master's title, for mail subjects.
	Title string
	// Transport, when set, is the HTTP clients' transport (tests).
	Transport http.RoundTripper
}

// Generators returns what c's generators want, as the state's reporters
// table stores them: with mode given, Buildbot's BuildStatusGenerator with
// the modes and filters (reporting starts unless report_start is false, or
// for mail unless it is true); without, the type's default generators with
// the filters. A mail reporter also sends the missing-worker notices
// (Buildbot's MailNotifier's WorkerMissingGenerator).
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
	gens := []*messages.ReportGenerator{g}
	if c.GetType() == "mail" {
		// MailNotifier's second default generator: the notices of workers
		// with notify_on_missing addresses.
		gens = append(gens, &messages.ReportGenerator{Kind: messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_WORKER_MISSING})
	}
	return gens, nil
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

// NewSender returns the client of c.
func NewSender(c *messages.ReporterConfig, o Options) (report.Sender, error) {
	token, password := c.GetToken(), c.GetPassword()
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
		tlsCfg, err := caConfig(c.GetTlsCa())
		if err != nil {
			return nil, err
		}
		return mail.New(mail.Config{From: c.GetFrom(), Relay: c.GetRelay(), TLS: mail.TLSMode(c.GetTls()), Username: c.GetUsername(),
			Password: password, ExtraRecipients: c.GetExtraRecipients(), OnlyExtraRecipients: c.GetOnlyExtraRecipients(),
			Title: o.Title, TLSConfig: tlsCfg, Timeout: Timeout(c)})
	}
	return nil, fmt.Errorf("type %q is not a reporter type (want one of %v)", c.GetType(), Types)
}

// MaxCABytes bounds a tls_ca file.
const MaxCABytes = 1 << 20

// caConfig is the TLS config trusting the CA certificates of the PEM file
// path alone; nil (the system's roots) when path is empty.
func caConfig(path string) (*tls.Config, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tls_ca: %w", err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, MaxCABytes+1))
	if err != nil {
		return nil, fmt.Errorf("tls_ca: %w", err)
	}
	if len(pem) > MaxCABytes {
		return nil, fmt.Errorf("tls_ca %s: larger than %d bytes", path, MaxCABytes)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls_ca %s: no PEM certificate in the file", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Validate checks c offline: its type and fields, its generators.
func Validate(c *messages.ReporterConfig) error {
	if !slices.Contains(Types, c.GetType()) {
		return fmt.Errorf("type %q is not a reporter type (want one of %v)", c.GetType(), Types)
	}
	if c.GetTlsCa() != "" && c.GetType() != "mail" {
		return fmt.Errorf("tls_ca is for mail reporters, not %s", c.GetType())
	}
	if _, err := Generators(c); err != nil {
		return err
	}
	_, err := NewSender(c, Options{})
	return err
}
