// Package mail sends reports by mail (Buildbot's MailNotifier, reporter
// type mail): one message per build report, to the build's interested
// users (the authors of its changes and its owner) and extra recipients,
// with a plain and an HTML body listing the steps and the last log lines of
// the failing step; and the missing-worker notice to the worker's
// notify_on_missing addresses. It speaks SMTP with STARTTLS, implicit TLS
// or (without authentication) plain text, and AUTH PLAIN.
//
// Send takes one report and returns nil, an error wrapping
// report.ErrSkipped (no recipient), or a *report.SendError (SMTP 4xx and
// network failures are retryable, 5xx permanent); the password never
// appears in an error.
package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
)

// TLSMode is how the connection to the relay is secured.
type TLSMode string

// The TLS modes.
const (
	// STARTTLS: connect in plain text, then require STARTTLS (port 587, 25).
	STARTTLS TLSMode = "starttls"
	// ImplicitTLS: TLS from the first byte (port 465).
	ImplicitTLS TLSMode = "tls"
	// NoTLS: plain text throughout; refused together with a password.
	NoTLS TLSMode = "none"
)

// DefaultTimeout bounds one SMTP session.
const DefaultTimeout = time.Minute

// Config configures a mail reporter.
type Config struct {
	// From is the sender, "ci@example.org" or "CI <ci@example.org>".
	From string
	// Relay is the SMTP server, host:port.
	Relay string
	// TLS; empty means STARTTLS.
	TLS TLSMode
	// Username and Password, when Username is set, log in with AUTH PLAIN.
	Username string
	Password string
	// ExtraRecipients get every mail: on Cc when interested users are on
	// To, else on To.
	ExtraRecipients []string
	// OnlyExtraRecipients leaves the interested users out (Buildbot's
	// sendToInterestedUsers=False).
	OnlyExtraRecipients bool
	// Title is the master's title, for subjects; empty means "Buildbot".
	Title string
	// TLSConfig, e.g. for a private CA; nil means the system's roots. Its
	// ServerName defaults to the relay's host.
	TLSConfig *tls.Config
	// Timeout bounds one SMTP session; 0 means DefaultTimeout.
	Timeout time.Duration
	// Now stamps the Date header; nil means time.Now.
	Now func() time.Time
}

// Client sends report mails.
type Client struct {
	cfg   Config
	from  *mail.Address
	extra []*mail.Address
	tls   *tls.Config
	tpl   templates
}

// DefaultGenerators are Buildbot's for MailNotifier: finished builds that
// fail, pass or have warnings, and missing workers.
func DefaultGenerators() []report.Generator {
	return []report.Generator{report.BuildStatusGenerator{}, report.WorkerMissingGenerator{}}
}

// New checks the config and returns the client.
func New(c Config) (*Client, error) {
	if c.TLS == "" {
		c.TLS = STARTTLS
	}
	if c.Title == "" {
		c.Title = "Buildbot"
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch c.TLS {
	case STARTTLS, ImplicitTLS:
	case NoTLS:
		if c.Username != "" {
			return nil, fmt.Errorf("mail: tls none with a username would send the password in plain text; use starttls or tls")
		}
	default:
		return nil, fmt.Errorf("mail: tls %q: want starttls, tls or none", c.TLS)
	}
	host, _, err := net.SplitHostPort(c.Relay)
	if err != nil || host == "" {
		return nil, fmt.Errorf("mail: relay %q: want host:port", c.Relay)
	}
	cl := &Client{cfg: c, tpl: parseTemplates()}
	if cl.from, err = mail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("mail: from %q: %w", c.From, err)
	}
	for i, r := range c.ExtraRecipients {
		a, ok := address(r)
		if !ok {
			return nil, fmt.Errorf("mail: extra_recipients[%d] %q is not a valid address", i, r)
		}
		cl.extra = append(cl.extra, a)
	}
	cl.tls = &tls.Config{}
	if c.TLSConfig != nil {
		cl.tls = c.TLSConfig.Clone()
	}
	if cl.tls.ServerName == "" {
		cl.tls.ServerName = host
	}
	return cl, nil
}

// Send composes the mail for r and delivers it.
func (c *Client) Send(ctx context.Context, r *report.Report) error {
	m, err := c.Compose(r)
	if err != nil {
		return err
	}
	return c.deliver(ctx, m)
}
