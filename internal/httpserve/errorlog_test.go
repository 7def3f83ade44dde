package httpserve

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestTLSHandshakeErrorsDoNotFloodTheLog: a stranger's 1,000 connections
// that fail the TLS handshake log the source's burst, then one line that
// counts the rest once its budget has refilled.
func TestTLSHandshakeErrorsDoNotFloodTheLog(t *testing.T) {
	log, logs := testkit.NewLogs()
	var now atomic.Int64 // the refusal log's clock, in seconds
	now.Store(1e9)
	refusals := droplog.New(log, droplog.Options{Now: func() time.Time { return time.Unix(now.Load(), 0) }})
	l := bound(t, Limits{})
	cfg := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, errors.New("no certificate") }}
	s := ServeTLS(l, text("hi"), log, cfg, refusals)
	t.Cleanup(s.Close)
	// Not a TLS record: the handshake fails at once; the server logs
	// before it closes the connection, which ends the read.
	fail := func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{0, 0, 0, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, c)
	}
	for range 1000 {
		fail()
	}
	if n := strings.Count(logs.String(), "TLS handshake error"); n != droplog.DefaultSourceBurst {
		t.Fatalf("1000 failed handshakes logged %d lines, want the source's burst %d", n, droplog.DefaultSourceBurst)
	}
	now.Add(int64(droplog.DefaultSourceEvery / time.Second))
	fail()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "TLS handshake error") || !strings.Contains(last, "not_logged_before=990") ||
		!strings.Contains(last, "peer=127.0.0.1:") {
		t.Errorf("line after the budget refilled = %q, want the handshake error, its peer and not_logged_before=990", last)
	}
}

// TestOtherServerLinesAreBudgeted: a line of the server's log that
// strangerLines does not name (net/http's accept errors when strangers use
// up the descriptors; a stranger line a Go release rewords) goes through the
// refusal budget too: one Warn a line before.
func TestOtherServerLinesAreBudgeted(t *testing.T) {
	log, logs := testkit.NewLogs()
	now := time.Unix(1e9, 0)
	l := errorLog(droplog.New(log, droplog.Options{Now: func() time.Time { return now }}))
	for range 30 {
		l.Printf("http: Accept error: accept tcp 127.0.0.1:8010: accept4: too many open files; retrying in 5ms")
	}
	if n := strings.Count(logs.String(), "too many open files"); n != droplog.DefaultSourceBurst {
		t.Fatalf("30 lines logged %d, want the budget's burst %d:\n%s", n, droplog.DefaultSourceBurst, logs)
	}
}
