package droplog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newLog(o Options) (*Log, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1e9, 0)}
	o.Now = c.now
	return New(slog.New(slog.NewTextHandler(&buf, nil)), o), &buf, c
}

func lines(buf *bytes.Buffer) []string {
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func TestOneSourceGetsItsBurstThenOneLineCountsTheRest(t *testing.T) {
	l, buf, c := newLog(Options{})
	for range 1000 {
		l.Refused("192.0.2.1:4000", "worker login refused", slog.String("worker", "w"))
	}
	if got := lines(buf); len(got) != DefaultSourceBurst {
		t.Fatalf("%d lines after 1000 refusals, want %d:\n%s", len(got), DefaultSourceBurst, buf)
	}
	buf.Reset()
	c.t = c.t.Add(DefaultSourceEvery)
	if !l.Refused("192.0.2.1:4001", "worker login refused", slog.String("worker", "w")) {
		t.Fatal("not logged once the source's budget refilled")
	}
	if got := buf.String(); !strings.Contains(got, "not_logged_before=990") || !strings.Contains(got, "peer=192.0.2.1:4001") || !strings.Contains(got, "worker=w") {
		t.Fatalf("line = %q; want the peer, the worker and not_logged_before=990", got)
	}
}

func TestOneSourceDoesNotHideAnother(t *testing.T) {
	l, buf, _ := newLog(Options{})
	for range 1000 {
		l.Refused("192.0.2.1:4000", "refused")
	}
	buf.Reset()
	if !l.Refused("192.0.2.2:4000", "refused") {
		t.Fatal("a second source's first refusal was not logged")
	}
}

func TestAllSourcesTogetherAreBounded(t *testing.T) {
	l, buf, c := newLog(Options{})
	for i := range 1000 {
		l.Refused(fmt.Sprintf("10.0.%d.%d:1", i/256, i%256), "refused")
	}
	if got := lines(buf); len(got) != DefaultBurst {
		t.Fatalf("%d lines from 1000 sources, want the shared burst %d", len(got), DefaultBurst)
	}
	buf.Reset()
	c.t = c.t.Add(time.Second)
	for i := range 1000 {
		l.Refused(fmt.Sprintf("10.1.%d.%d:1", i/256, i%256), "refused")
	}
	if got := lines(buf); len(got) != DefaultRate {
		t.Fatalf("%d lines a second later, want %d", len(got), DefaultRate)
	}
}

func TestForgottenSourcesAreToldAndMemoryIsBounded(t *testing.T) {
	l, buf, c := newLog(Options{MaxSources: 100, SourceBurst: 1})
	for i := range 10_000 {
		l.Refused(fmt.Sprintf("10.0.%d.%d:1", i/256, i%256), "refused")
		l.Refused(fmt.Sprintf("10.0.%d.%d:1", i/256, i%256), "refused") // not logged: the source's burst is 1
	}
	if n := l.Sources(); n > 100 {
		t.Fatalf("%d sources remembered, want at most 100", n)
	}
	buf.Reset()
	c.t = c.t.Add(time.Hour)
	l.Refused("192.0.2.9:1", "refused")
	if got := buf.String(); !strings.Contains(got, "not_logged_forgotten=") {
		t.Fatalf("line = %q; want the count of refusals of forgotten sources", got)
	}
}

func TestIPv6SourceIsItsNetwork(t *testing.T) {
	l, buf, _ := newLog(Options{SourceBurst: 1})
	l.Refused("[2001:db8::1]:1", "refused")
	l.Refused("[2001:db8::2]:1", "refused")
	if got := lines(buf); len(got) != 1 {
		t.Fatalf("%d lines from one /64, want 1", len(got))
	}
}

// RefusedAt logs at the level given (Info for what an honest client's TCP
// check also causes); Refused at Warn.
func TestRefusedAtLevel(t *testing.T) {
	l, buf, _ := newLog(Options{})
	l.RefusedAt(slog.LevelInfo, "192.0.2.1:4000", "closed before a login")
	l.Refused("192.0.2.2:4000", "worker login refused")
	got := lines(buf)
	if len(got) != 2 || !strings.Contains(got[0], "level=INFO") || !strings.Contains(got[1], "level=WARN") {
		t.Fatalf("lines = %q; want one at INFO, then one at WARN", got)
	}
}
