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

// A shared handler redacts with the Redactor set on the first, also one
// set after it was made.
func TestLogHandlerShare(t *testing.T) {
	var main, lib bytes.Buffer
	h := NewLogHandler(slog.NewTextHandler(&main, nil))
	libLog := slog.New(h.Share(slog.NewTextHandler(&lib, nil)))
	h.SetRedactor(NewRedactor(map[string]string{"api": "tok-abcdef123"}))
	libLog.Info("lib saw tok-abcdef123")
	if got := lib.String(); strings.Contains(got, "tok-abcdef123") || !strings.Contains(got, "<api>") || main.Len() != 0 {
		t.Fatalf("lib log %q, main log %q", got, main.String())
	}
}
