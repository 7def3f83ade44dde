package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/messages"
)

// TestRenderedSecrets: the runtime's redactor and the master's log hide the
// config's values and, once a build has rendered them, its values too; a
// later config keeps the rendered ones. Without providers, a lookup says
// so.
func TestRenderedSecrets(t *testing.T) {
	var buf bytes.Buffer
	lh := secrets.NewLogHandler(slog.NewTextHandler(&buf, nil))
	rt := NewRuntime(nil, slog.New(lh), &messages.MasterConfig{}, nil)
	rt.LogRedactor = lh
	if _, err := rt.Secrets().Provider.Get(context.Background(), "x"); !errors.Is(err, secrets.ErrNotFound) ||
		!strings.Contains(err.Error(), "no secret providers") {
		t.Fatalf("lookup without providers: %v", err)
	}
	var cfgUsed, built secrets.Values
	cfgUsed.Add("w1pass", "worker-password-1")
	built.Add("deploy", "deploy-token-2")
	rt.SetSecrets(&Secrets{Used: cfgUsed})
	before := rt.Redactor()
	rt.RenderedSecrets(built)
	rt.RenderedSecrets(built) // nothing new: the same redactor
	if rt.Redactor() == before {
		t.Fatal("a rendered value did not change the redactor")
	}
	same := rt.Redactor()
	rt.RenderedSecrets(built)
	if rt.Redactor() != same {
		t.Fatal("the redactor was rebuilt for values it held")
	}
	rt.SetSecrets(&Secrets{Used: cfgUsed}) // a reconfig
	line := "worker-password-1 deploy-token-2"
	if got := rt.Redactor().Redact(line); got != "<w1pass> <deploy>" {
		t.Fatalf("Redact = %q", got)
	}
	rt.Log.Info(line)
	if strings.Contains(buf.String(), "password-1") || strings.Contains(buf.String(), "token-2") {
		t.Fatalf("log: %s", buf.String())
	}
}

// TestRotatedSecretsStayRedacted: once a secret is rotated (a reconfig
// reads a new value, or a build renders a new one), its former values stay
// hidden behind its marker, in the redactor and the master's log: the last
// secrets.RetiredPerName of each name, so that the set stays bounded.
func TestRotatedSecretsStayRedacted(t *testing.T) {
	var buf bytes.Buffer
	lh := secrets.NewLogHandler(slog.NewTextHandler(&buf, nil))
	rt := NewRuntime(nil, slog.New(lh), &messages.MasterConfig{}, nil)
	rt.LogRedactor = lh
	config := func(pairs ...string) {
		var v secrets.Values
		for i := 0; i < len(pairs); i += 2 {
			v.Add(pairs[i], pairs[i+1])
		}
		rt.SetSecrets(&Secrets{Used: v})
	}
	render := func(name, value string) {
		var v secrets.Values
		v.Add(name, value)
		rt.RenderedSecrets(v)
	}
	config("w1pass", "worker-password-1", "gone", "removed-secret-1")
	config("w1pass", "worker-password-2") // rotated; "gone" left the config
	render("deploy", "deploy-token-1")
	render("deploy", "deploy-token-2")    // rotated in its provider
	render("w1pass", "worker-password-3") // a build read a newer value than the config's
	line := "worker-password-1 worker-password-2 worker-password-3 removed-secret-1 deploy-token-1 deploy-token-2"
	want := "<w1pass> <w1pass> <w1pass> <gone> <deploy> <deploy>"
	if got := rt.Redactor().Redact(line); got != want {
		t.Fatalf("Redact = %q, want %q", got, want)
	}
	rt.Log.Info(line)
	if strings.Contains(buf.String(), "password-") || strings.Contains(buf.String(), "token-") || strings.Contains(buf.String(), "secret-1") {
		t.Fatalf("log: %s", buf.String())
	}

	// Bounded: past secrets.RetiredPerName rotations, the oldest values
	// are let go.
	for i := range secrets.RetiredPerName + 1 {
		config("w1pass", fmt.Sprintf("worker-password-%d", 10+i))
	}
	got := rt.Redactor().Redact("worker-password-1 worker-password-14 worker-password-13 worker-password-10")
	if got != "worker-password-1 <w1pass> <w1pass> <w1pass>" {
		t.Fatalf("after %d more rotations: %q", secrets.RetiredPerName+1, got)
	}
}

// TestSecretsNeverAheadOfTheRedactor: while configs and rendered values
// are installed concurrently, whoever reads the secrets in force and then
// the redactor gets a redactor hiding every value of those secrets (one
// critical section installs both, the redactor first).
func TestSecretsNeverAheadOfTheRedactor(t *testing.T) {
	rt := NewRuntime(nil, slog.New(slog.DiscardHandler), &messages.MasterConfig{}, nil)
	const configs = 500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range configs {
			var used, built secrets.Values
			used.Add(fmt.Sprintf("cfg%d", i), fmt.Sprintf("config-value-%d", i))
			built.Add(fmt.Sprintf("built%d", i), fmt.Sprintf("built-value-%d", i))
			rt.SetSecrets(&Secrets{Used: used})
			rt.RenderedSecrets(built)
		}
	}()
	for checked := 0; ; checked++ {
		select {
		case <-done:
			t.Logf("%d reads checked", checked)
			return
		default:
		}
		s := rt.Secrets()
		r := rt.Redactor()
		for _, n := range s.Used.Names() {
			if v, _ := s.Used.Value(n); r.Redact(v) == v {
				t.Fatalf("secret %s of the config in force is not redacted by the redactor read after it", n)
			}
		}
	}
}
