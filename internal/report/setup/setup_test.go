package setup

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

func TestGenerators(t *testing.T) {
	const status, startEnd = messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_STATUS, messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_BUILD_START_END
	no := false
	for _, c := range []struct {
		name string
		cfg  *messages.ReporterConfig
		want *messages.ReportGenerator
		err  string
	}{
		{"github default: every start and end", &messages.ReporterConfig{Type: "github_status", Builders: []string{"app"}},
			&messages.ReportGenerator{Kind: startEnd, Builders: []string{"app"}}, ""},
		{"gitlab default", &messages.ReporterConfig{Type: "gitlab_status"}, &messages.ReportGenerator{Kind: startEnd}, ""},
		{"http_push default: starts and default modes", &messages.ReporterConfig{Type: "http_push"},
			&messages.ReportGenerator{Kind: status, ReportStart: true}, ""},
		{"mail default: ends", &messages.ReporterConfig{Type: "mail", Tags: []string{"t"}},
			&messages.ReportGenerator{Kind: status, Tags: []string{"t"}}, ""},
		{"mode list", &messages.ReporterConfig{Type: "http_push", Mode: []string{"failing", "passing"}, ReportStart: &no},
			&messages.ReportGenerator{Kind: status, Modes: []string{"failing", "passing"}}, ""},
		{"warnings alone is itself", &messages.ReporterConfig{Type: "mail", Mode: []string{"warnings"}},
			&messages.ReportGenerator{Kind: status, Modes: []string{"warnings"}}, ""},
		{"all", &messages.ReporterConfig{Type: "github_status", Mode: []string{"all"}, Branches: []string{"main"}},
			&messages.ReportGenerator{Kind: status, Modes: []string{"failing", "passing", "warnings", "exception", "cancelled"},
				Branches: []string{"main"}, ReportStart: true}, ""},
		{"all in a list", &messages.ReporterConfig{Type: "mail", Mode: []string{"all", "change"}}, nil, "give it alone"},
		{"unknown mode", &messages.ReporterConfig{Type: "mail", Mode: []string{"sometimes"}}, nil, `unknown mode "sometimes"`},
		{"builders and tags", &messages.ReporterConfig{Type: "mail", Builders: []string{"a"}, Tags: []string{"b"}}, nil, "not both"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Generators(c.cfg)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			want := []*messages.ReportGenerator{c.want}
			if c.cfg.GetType() == "mail" {
				want = append(want, &messages.ReportGenerator{Kind: messages.ReportGeneratorKind_REPORT_GENERATOR_KIND_WORKER_MISSING})
			}
			if err != nil || !slices.EqualFunc(got, want, func(a, b *messages.ReportGenerator) bool { return proto.Equal(a, b) }) {
				t.Fatalf("Generators = %v, %v; want %v", got, err, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, bad := range []*messages.ReporterConfig{{Type: "carrier_pigeon"}, {Type: "http_push", Url: "ftp://x"}, {Type: "mail", From: "ci@x"}} {
		if err := Validate(bad); err == nil {
			t.Errorf("Validate(%v) = nil", bad)
		}
	}
}

// TestMailPrivateCA: with tls_ca, the mail client trusts the relay's
// certificate signed by a private CA, over STARTTLS with a real SMTP
// server; without it, the relay is refused for good; a tls_ca that is not
// a PEM certificate, or not there, is a config error naming tls_ca.
func TestMailPrivateCA(t *testing.T) {
	fake := reportertest.NewFakeSMTP(t, reportertest.SMTPOptions{Username: "ci", Password: "smtp-pa55"})
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, fake.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &messages.ReporterConfig{Type: "mail", From: "ci@example.org", Relay: fake.Addr, Username: "ci", Password: "smtp-pa55",
		ExtraRecipients: []string{"team@example.org"}, TlsCa: ca}
	sender, err := NewSender(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(context.Background(), reportertest.Finished()); err != nil {
		t.Fatalf("Send with the private CA: %v", err)
	}
	if m := testkit.Recv(t, "the mail", fake.Mails()); !m.TLS || m.User != "ci" {
		t.Errorf("the mail came over TLS %v as %q", m.TLS, m.User)
	}

	cfg.TlsCa = ""
	sender, err = NewSender(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(context.Background(), reportertest.Finished()); err == nil {
		t.Error("a relay whose CA is not trusted took the mail")
	} else if retry, _ := report.RetryInfo(err); retry {
		t.Errorf("a relay whose CA is not trusted is retried: %v", err)
	}

	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{notPEM, "tls_ca " + notPEM + ": no PEM certificate"},
		{filepath.Join(dir, "missing.pem"), "tls_ca: open"},
	} {
		cfg.TlsCa = c.path
		if err := Validate(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tls_ca %s: %v, want %q", c.path, err, c.want)
		}
	}
	if err := Validate(&messages.ReporterConfig{Type: "http_push", Url: "http://x/", TlsCa: ca}); err == nil ||
		!strings.Contains(err.Error(), "tls_ca is for mail reporters") {
		t.Errorf("tls_ca on http_push: %v", err)
	}
}
