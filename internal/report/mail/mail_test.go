package mail

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

const password = "smtp-pa55w0rd"

func fixedNow() time.Time { return time.Date(2024, 5, 6, 7, 10, 0, 0, time.UTC) }

func newClient(t *testing.T, c Config) *Client {
	t.Helper()
	if c.From == "" {
		c.From = "CI <ci@example.org>"
	}
	c.Now = fixedNow
	c.Title = "Acme CI"
	cl, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// received waits for the fake's next mail, or for the send to fail.
func received(t *testing.T, fake *reportertest.FakeSMTP, sendErr error) reportertest.Mail {
	t.Helper()
	if sendErr != nil {
		t.Fatalf("Send: %v", sendErr)
	}
	select {
	case m := <-fake.Mails():
		return m
	default:
		t.Fatal("Send returned nil but the server has no mail")
	}
	return reportertest.Mail{}
}

// parsed is a received mail read back with the standard library.
type parsed struct {
	header      mail.Header
	plain, html string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	p := parsed{header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if part.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Fatalf("part encoding %q", part.Header.Get("Content-Transfer-Encoding"))
		}
		body, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatal(err)
		}
		switch part.Header.Get("Content-Type") {
		case "text/plain; charset=utf-8":
			p.plain = string(body)
		case "text/html; charset=utf-8":
			p.html = string(body)
		default:
			t.Fatalf("part type %q", part.Header.Get("Content-Type"))
		}
	}
	return p
}

// TestBuildMailSTARTTLS sends a failed build's mail through a real SMTP
// server with STARTTLS and AUTH PLAIN, and reads it back.
func TestBuildMailSTARTTLS(t *testing.T) {
	fake := reportertest.NewFakeSMTP(t, reportertest.SMTPOptions{Username: "ci", Password: password})
	c := newClient(t, Config{Relay: fake.Addr, Username: "ci", Password: password, TLSConfig: fake.ClientTLS,
		ExtraRecipients: []string{"team@example.org"}})
	m := received(t, fake, c.Send(context.Background(), reportertest.Finished()))
	if m.User != "ci" || !m.TLS || m.From != "ci@example.org" {
		t.Errorf("session user %q tls %v from %q", m.User, m.TLS, m.From)
	}
	wantTo := []string{"alice@example.org", "bob@example.org", "carol@example.org", "team@example.org"}
	if !slices.Equal(m.To, wantTo) {
		t.Errorf("envelope recipients %v, want %v", m.To, wantTo)
	}
	testkit.Golden(t, filepath.Join("testdata", "build_finished.eml"), m.Data)

	p := parse(t, m.Data)
	subject, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
	if err != nil || subject != "☠ Buildbot (Acme CI): app - failed test (refs/pull/12/merge)" {
		t.Errorf("subject %q, %v", subject, err)
	}
	if got := p.header.Get("To"); got != `"Alice" <alice@example.org>, <bob@example.org>, <carol@example.org>` {
		t.Errorf("To: %s", got)
	}
	if got := p.header.Get("Cc"); got != "<team@example.org>" {
		t.Errorf("Cc: %s", got)
	}
	for _, want := range []string{"A new failure has been detected on builder app while building acme/app.",
		"Blamelist: Alice <alice@example.org>, bob, carol@example.org", "- 2: test ( failure )",
		`    widget_test.go:12: got <b>"a & b"</b>, want <script>x</script>`} {
		if !strings.Contains(p.plain, want) {
			t.Errorf("plain body lacks %q:\n%s", want, p.plain)
		}
	}
	for _, want := range []string{`<a href="http://ci.example.org/#builders/3/builds/7">app</a>`,
		`got &lt;b&gt;&#34;a &amp; b&#34;&lt;/b&gt;, want &lt;script&gt;x&lt;/script&gt;`,
		`<li style="color: #f00; font-weight: bold;">2: test ( failure )</li>`} {
		if !strings.Contains(p.html, want) {
			t.Errorf("HTML body lacks %q:\n%s", want, p.html)
		}
	}
	if strings.Contains(p.html, "<script>") {
		t.Error("the HTML body has the log's markup unescaped")
	}
}

func TestImplicitTLS(t *testing.T) {
	fake := reportertest.NewFakeSMTP(t, reportertest.SMTPOptions{ImplicitTLS: true, Username: "ci", Password: password})
	c := newClient(t, Config{Relay: fake.Addr, TLS: ImplicitTLS, Username: "ci", Password: password, TLSConfig: fake.ClientTLS})
	m := received(t, fake, c.Send(context.Background(), reportertest.Finished()))
	if !m.TLS || m.User != "ci" {
		t.Errorf("tls %v user %q", m.TLS, m.User)
	}
}

func TestPlainRelay(t *testing.T) {
	fake := reportertest.NewFakeSMTP(t, reportertest.SMTPOptions{NoSTARTTLS: true})
	c := newClient(t, Config{Relay: fake.Addr, TLS: NoTLS})
	m := received(t, fake, c.Send(context.Background(), reportertest.Finished()))
	if m.TLS || m.User != "" {
		t.Errorf("tls %v user %q", m.TLS, m.User)
	}
}

func TestMissingWorkerMail(t *testing.T) {
	fake := reportertest.NewFakeSMTP(t, reportertest.SMTPOptions{})
	c := newClient(t, Config{Relay: fake.Addr, TLSConfig: fake.ClientTLS, ExtraRecipients: []string{"team@example.org"}})
	m := received(t, fake, c.Send(context.Background(), reportertest.WorkerMissing()))
	if !slices.Equal(m.To, []string{"dana@example.org", "ops@example.org"}) {
		t.Errorf("recipients %v, want only the worker's notify addresses", m.To)
	}
	testkit.Golden(t, filepath.Join("testdata", "worker_missing.eml"), m.Data)
	p := parse(t, m.Data)
	if p.header.Get("Subject") != "Buildbot Acme CI worker w1 missing" ||
		!strings.Contains(p.plain, "The Buildbot worker named w1 went away.") ||
		!strings.Contains(p.html, "was Ops &lt;ops@example.org&gt;.") {
		t.Errorf("subject %q\n%s\n%s", p.header.Get("Subject"), p.plain, p.html)
	}
}

func TestRecipients(t *testing.T) {
	build := func(authors ...string) *report.Build {
		b := reportertest.Finished().Build
		b.Changes, b.Properties = nil, nil
		for _, a := range authors {
			b.Changes = append(b.Changes, report.Change{Author: a})
		}
		return b
	}
	withOwners := build("x@example.org")
	withOwners.Properties = map[string]report.Property{"owners": {Value: []byte(`["o1@example.org","o2@example.org"]`)}}
	emailFromUsers := build("jdoe")
	emailFromUsers.Changes[0].AuthorEmail = "jdoe@example.org"
	for _, c := range []struct {
		name     string
		b        *report.Build
		onlyXtra bool
		to, cc   []string
	}{
		{"authors on To, extras on Cc", build("b@example.org", "A <a@example.org>"), false, []string{"a@example.org", "b@example.org"}, []string{"team@example.org"}},
		{"logins are not addresses", build("jdoe", "bad@localhost"), false, []string{"team@example.org"}, nil},
		{"the users table's address", emailFromUsers, false, []string{"jdoe@example.org"}, []string{"team@example.org"}},
		{"git's doubled domain", build("'J' <j@example.org>@example.org"), false, []string{"j@example.org"}, []string{"team@example.org"}},
		{"each once", build("a@example.org", "A@Example.org"), false, []string{"a@example.org"}, []string{"team@example.org"}},
		{"owners", withOwners, false, []string{"o1@example.org", "o2@example.org", "x@example.org"}, []string{"team@example.org"}},
		{"only extra recipients", build("a@example.org"), true, []string{"team@example.org"}, nil},
	} {
		cl := newClient(t, Config{Relay: "127.0.0.1:25", ExtraRecipients: []string{"team@example.org"}, OnlyExtraRecipients: c.onlyXtra})
		to, cc := cl.recipients(c.b)
		if got := bare(to); !slices.Equal(got, c.to) {
			t.Errorf("%s: To %v, want %v", c.name, got, c.to)
		}
		if got := bare(cc); !slices.Equal(got, c.cc) {
			t.Errorf("%s: Cc %v, want %v", c.name, got, c.cc)
		}
	}
	nobody := newClient(t, Config{Relay: "127.0.0.1:25"})
	if _, err := nobody.Compose(&report.Report{Event: report.EventBuildFinished, Build: build("jdoe")}); !errors.Is(err, report.ErrSkipped) {
		t.Errorf("no recipient: %v, want skipped", err)
	}
}

func bare(as []*mail.Address) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Address)
	}
	return out
}

// TestHeaderInjection: a builder name or state with line breaks stays in
// its header.
func TestHeaderInjection(t *testing.T) {
	c := newClient(t, Config{Relay: "127.0.0.1:25"})
	r := reportertest.Finished()
	r.Build.BuilderName = "app\r\nBcc: evil@example.org"
	r.Build.StateString = "failed\nX-Evil: 1"
	m, err := c.Compose(r)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" || msg.Header.Get("X-Evil") != "" || slices.Contains(m.To, "evil@example.org") {
		t.Errorf("injected headers: %v", msg.Header)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || strings.ContainsAny(subject, "\r\n") {
		t.Errorf("subject %q, %v: has line breaks", subject, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{From: "ci@example.org", Relay: "smtp.example.org"}, "want host:port"},
		{Config{From: "not an address", Relay: "smtp.example.org:25"}, "from"},
		{Config{From: "ci@example.org", Relay: "smtp.example.org:25", ExtraRecipients: []string{"team"}}, "extra_recipients[0]"},
		{Config{From: "ci@example.org", Relay: "smtp.example.org:25", TLS: "ssl"}, `tls "ssl"`},
		{Config{From: "ci@example.org", Relay: "smtp.example.org:25", TLS: NoTLS, Username: "u", Password: password}, "plain text"},
	} {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
		reportertest.NoSecret(t, err, password)
	}
}

func TestDeliveryErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		server reportertest.SMTPOptions
		client func(f *reportertest.FakeSMTP) Config
		retry  bool
		status int
	}{
		{"wrong password", reportertest.SMTPOptions{Username: "ci", Password: "other"},
			func(f *reportertest.FakeSMTP) Config {
				return Config{Relay: f.Addr, Username: "ci", Password: password, TLSConfig: f.ClientTLS}
			}, false, 535},
		{"temporary refusal", reportertest.SMTPOptions{RejectData: &smtp.SMTPError{Code: 451, Message: "try later"}},
			func(f *reportertest.FakeSMTP) Config { return Config{Relay: f.Addr, TLSConfig: f.ClientTLS} }, true, 451},
		{"permanent refusal", reportertest.SMTPOptions{RejectData: &smtp.SMTPError{Code: 554, Message: "no"}},
			func(f *reportertest.FakeSMTP) Config { return Config{Relay: f.Addr, TLSConfig: f.ClientTLS} }, false, 554},
		{"no STARTTLS offered", reportertest.SMTPOptions{NoSTARTTLS: true},
			func(f *reportertest.FakeSMTP) Config { return Config{Relay: f.Addr, TLSConfig: f.ClientTLS} }, false, 0},
		{"untrusted certificate", reportertest.SMTPOptions{},
			func(f *reportertest.FakeSMTP) Config { return Config{Relay: f.Addr} }, false, 0},
		{"TLS to a plain-text server", reportertest.SMTPOptions{},
			func(f *reportertest.FakeSMTP) Config {
				return Config{Relay: f.Addr, TLS: ImplicitTLS, TLSConfig: f.ClientTLS}
			}, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := reportertest.NewFakeSMTP(t, c.server)
			err := newClient(t, c.client(fake)).Send(context.Background(), reportertest.Finished())
			var se *report.SendError
			if !errors.As(err, &se) || se.Retryable != c.retry || se.Status != c.status {
				t.Fatalf("Send = %v, want retryable=%v status %d", err, c.retry, c.status)
			}
			reportertest.NoSecret(t, err, password)
			select {
			case <-fake.Mails():
				t.Error("the server accepted a mail")
			default:
			}
		})
	}
}

// TestHangingRelay: a relay that accepts and says nothing lets go when
// the caller's context ends.
func TestHangingRelay(t *testing.T) {
	l := testkit.Listen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		if conn, err := l.Accept(); err == nil {
			accepted <- conn
		}
	}()
	c := newClient(t, Config{Relay: l.Addr().String()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Send(ctx, reportertest.Finished()) }()
	conn := testkit.Recv(t, "the connection", accepted)
	defer conn.Close()
	cancel()
	err := testkit.Recv(t, "Send's return after the context ended", done)
	if retry, _ := report.RetryInfo(err); !retry || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want retryable and context.Canceled", err)
	}
}

func TestRelayTimeout(t *testing.T) {
	l := testkit.Listen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		if conn, err := l.Accept(); err == nil {
			accepted <- conn
		}
	}()
	c := newClient(t, Config{Relay: l.Addr().String(), Timeout: 50 * time.Millisecond})
	if retry, _ := report.RetryInfo(c.Send(context.Background(), reportertest.Finished())); !retry {
		t.Fatal("a relay that never greets is not a retryable failure")
	}
	testkit.Recv(t, "the connection", accepted).Close()
}

// BenchmarkDecideAndCompose is the per-report cost before the network:
// the generators' decision and the composed mail.
func BenchmarkDecideAndCompose(b *testing.B) {
	c, err := New(Config{From: "ci@example.org", Relay: "127.0.0.1:25", Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	r := reportertest.Finished()
	gens := DefaultGenerators()
	b.ReportAllocs()
	for b.Loop() {
		if !report.Wanted(gens, r) {
			b.Fatal("not wanted")
		}
		if _, err := c.Compose(r); err != nil {
			b.Fatal(err)
		}
	}
}
