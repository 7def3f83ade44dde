package mail

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
)

// Message is a composed mail.
type Message struct {
	// From is the envelope sender, a bare address.
	From string
	// To are the envelope recipients (To and Cc), bare addresses.
	To []string
	// Data is the message, headers and body, with CRLF line ends.
	Data []byte
}

// boundary separates the plain and HTML parts; "=_" never occurs in
// quoted-printable text, so it cannot collide with a body.
const boundary = "=_buildmaster_alternative"

// maxSubject bounds a subject, in characters.
const maxSubject = 200

// Compose builds the mail for r: a build report to its interested users
// and the extra recipients, or a missing-worker notice to the worker's
// notify addresses. A report with nobody to send to wraps
// report.ErrSkipped.
func (c *Client) Compose(r *report.Report) (*Message, error) {
	var to, cc []*mail.Address
	var subject, id string
	var plain, html bytes.Buffer
	var err error
	switch {
	case r.Event == report.EventWorkerMissing && r.Worker != nil:
		w := r.Worker
		for _, s := range w.Notify {
			if a, ok := address(s); ok {
				to = append(to, a)
			}
		}
		to = dedupe(to)
		subject = "Buildbot " + c.cfg.Title + " worker " + w.Name + " missing"
		id = "worker." + w.Name
		d := newWorkerData(w)
		if err = c.tpl.workerPlain.Execute(&plain, d); err == nil {
			err = c.tpl.workerHTML.Execute(&html, d)
		}
	case r.Build != nil:
		b := r.Build
		to, cc = c.recipients(b)
		subject = buildSubject(b, c.cfg.Title)
		id = fmt.Sprintf("build.%d.%s", b.BuildID, r.Event)
		d := newBuildData(b, c.cfg.Title)
		if err = c.tpl.buildPlain.Execute(&plain, d); err == nil {
			err = c.tpl.buildHTML.Execute(&html, d)
		}
	default:
		return nil, report.Skipf("mail: nothing to say about a %s report", r.Event)
	}
	if err != nil {
		return nil, &report.SendError{Target: "mail", Err: fmt.Errorf("rendering the body: %w", err)}
	}
	if len(to)+len(cc) == 0 {
		return nil, report.Skipf("mail: no recipient for %s", id)
	}
	m := &Message{From: c.from.Address}
	for _, a := range append(to, cc...) {
		m.To = append(m.To, a.Address)
	}
	m.Data, err = c.message(to, cc, subject, id, plain.Bytes(), html.Bytes())
	if err != nil {
		return nil, &report.SendError{Target: "mail", Err: err}
	}
	return m, nil
}

// message writes the headers and the multipart/alternative body.
func (c *Client) message(to, cc []*mail.Address, subject, id string, plain, html []byte) ([]byte, error) {
	var buf bytes.Buffer
	header := func(k, v string) {
		buf.WriteString(k + ": " + oneLine(v) + "\r\n")
	}
	now := c.cfg.Now()
	_, domain, _ := strings.Cut(c.from.Address, "@")
	header("From", c.from.String())
	header("To", addressList(to))
	if len(cc) > 0 {
		header("Cc", addressList(cc))
	}
	subject = oneLine(subject)
	if s := []rune(subject); len(s) > maxSubject {
		subject = string(s[:maxSubject-1]) + "…"
	}
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<%s.%d@%s>", idSafe(id), now.UnixNano(), domain))
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	buf.WriteString("\r\n")
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		ctype string
		body  []byte
	}{{"text/plain", plain}, {"text/html", html}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(pw, p.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeQP(w io.Writer, body []byte) error {
	qw := quotedprintable.NewWriter(w)
	if _, err := qw.Write(bytes.ToValidUTF8(body, []byte("\uFFFD"))); err != nil {
		return err
	}
	return qw.Close()
}

func addressList(as []*mail.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// oneLine keeps a header value on one line, whatever a builder name or a
// state string holds.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

// idSafe keeps the characters a Message-ID's left part may have.
func idSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
