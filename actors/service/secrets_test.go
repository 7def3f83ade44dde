package service

import (
	"bytes"
	"context"
	"errors"
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
