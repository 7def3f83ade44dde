package setup

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

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
			if err != nil || len(got) != 1 || !proto.Equal(got[0], c.want) {
				t.Fatalf("Generators = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

type env map[string]string

func (e env) Get(_ context.Context, name string) (string, error) {
	if v, ok := e[name]; ok {
		return v, nil
	}
	return "", errors.New("not found: " + name)
}

func TestSecrets(t *testing.T) {
	cfg := &messages.ReporterConfig{Type: "github_status", Token: &messages.SecretValue{Secret: "gh"}}
	if _, err := NewSender(context.Background(), cfg, Options{Secrets: env{"gh": "t0ken"}}); err != nil {
		t.Fatal(err)
	}
	_, err := NewSender(context.Background(), cfg, Options{Secrets: env{}})
	if err == nil || !strings.Contains(err.Error(), "token: not found: gh") {
		t.Fatalf("missing secret: %v", err)
	}
	both := &messages.ReporterConfig{Type: "http_push", Url: "http://x/", Password: &messages.SecretValue{Secret: "a", Value: "hunter22"}}
	if err := Validate(both); err == nil || strings.Contains(err.Error(), "hunter22") {
		t.Fatalf("secret and value: %v", err)
	}
	for _, bad := range []*messages.ReporterConfig{{Type: "carrier_pigeon"}, {Type: "http_push", Url: "ftp://x"}, {Type: "mail", From: "ci@x"}} {
		if err := Validate(bad); err == nil {
			t.Errorf("Validate(%v) = nil", bad)
		}
	}
}
