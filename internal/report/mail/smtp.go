package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/buildmaster/buildmaster/internal/report"
)

// deliver runs one SMTP session: connect (TLS from the start, or
// STARTTLS, which is then required), AUTH PLAIN when a username is set,
// MAIL, RCPT, DATA, QUIT. The session ends when ctx does or after the
// configured timeout.
func (c *Client) deliver(ctx context.Context, m *Message) error {
	target := "SMTP " + c.cfg.Relay
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.cfg.Relay)
	if err != nil {
		return c.fail(ctx, target, err)
	}
	// Closing the connection is what unblocks go-smtp when ctx ends: it
	// sets its own deadlines per command.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	var client *smtp.Client
	switch c.cfg.TLS {
	case ImplicitTLS:
		tc := tls.Client(conn, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return c.fail(ctx, target, err)
		}
		client = smtp.NewClient(tc)
	case STARTTLS:
		if client, err = smtp.NewClientStartTLS(conn, c.tls); err != nil {
			return c.fail(ctx, target, err)
		}
	default:
		client = smtp.NewClient(conn)
	}
	defer client.Close()
	client.CommandTimeout, client.SubmissionTimeout = c.cfg.Timeout, c.cfg.Timeout
	if c.cfg.Username != "" {
		if err := client.Auth(sasl.NewPlainClient("", c.cfg.Username, c.cfg.Password)); err != nil {
			return c.fail(ctx, target, fmt.Errorf("AUTH PLAIN as %q: %w", c.cfg.Username, err))
		}
	}
	if err := client.SendMail(m.From, m.To, bytes.NewReader(m.Data)); err != nil {
		return c.fail(ctx, target, err)
	}
	if err := client.Quit(); err != nil {
		return c.fail(ctx, target, fmt.Errorf("QUIT after the mail was accepted: %w", err))
	}
	return nil
}

// fail classifies an SMTP failure: a 4xx reply and network trouble are
// retryable; a 5xx reply, a certificate the system does not trust, a
// relay that speaks no TLS or offers no STARTTLS are permanent.
func (c *Client) fail(ctx context.Context, target string, err error) error {
	se := &report.SendError{Target: target, Err: err, Retryable: true}
	var smtpErr *smtp.SMTPError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var notTLS tls.RecordHeaderError
	switch {
	case errors.As(err, &smtpErr):
		se.Status = smtpErr.Code
		se.Retryable = smtpErr.Code/100 == 4
		se.Err = errors.New(scrub(smtpErr.Message, c.cfg.Password))
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &notTLS),
		strings.Contains(err.Error(), "doesn't support STARTTLS"):
		se.Retryable = false
	}
	if ctx.Err() != nil {
		se.Err = fmt.Errorf("%w: %w", ctx.Err(), se.Err)
		se.Retryable = true
	}
	return se
}

func scrub(s, secret string) string {
	if len(secret) >= 4 {
		s = strings.ReplaceAll(s, secret, "REDACTED")
	}
	return s
}
