package secrets

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	h := NewLogHandler(slog.NewTextHandler(&buf, nil))
	log := slog.New(h).With("bound", "tok-abcdef123")
	log.Info("before tok-abcdef123")
	if !strings.Contains(buf.String(), "tok-abcdef123") {
		t.Fatalf("nothing to redact yet, yet: %s", buf.String())
	}
	buf.Reset()
	h.SetRedactor(NewRedactor(map[string]string{"api": "tok-abcdef123"}))
	log.WithGroup("g").Info("msg tok-abcdef123", "s", "x tok-abcdef123", "err", errors.New("bad tok-abcdef123"),
		slog.Group("grp", "in", "tok-abcdef123"))
	if got := buf.String(); strings.Contains(got, "tok-abcdef123") || strings.Count(got, "<api>") != 5 {
		t.Fatalf("not redacted: %s", got)
	}
}
