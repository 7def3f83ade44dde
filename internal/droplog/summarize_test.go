package droplog

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// timers is Options.AfterFunc driven by the test's clock: fire runs the
// functions due by then.
type timers struct {
	c   *clock
	due []timer
}

type timer struct {
	at time.Time
	f  func()
}

func (ts *timers) afterFunc(d time.Duration, f func()) {
	ts.due = append(ts.due, timer{ts.c.t.Add(d), f})
}

// fire runs the timers due at the clock's time, and reports how many.
func (ts *timers) fire() int {
	var run, keep []timer
	for _, t := range ts.due {
		if t.at.After(ts.c.t) {
			keep = append(keep, t)
		} else {
			run = append(run, t)
		}
	}
	ts.due = keep
	for _, t := range run {
		t.f()
	}
	return len(run)
}

// TestSummarizeLogsTheLastDroppedLineOnceQuiet: a source that flapped past
// its budget and went quiet gets its last line logged once its budget
// allows one, with how many were dropped before it and when it happened;
// only that one line, and none when a newer line was logged meanwhile.
func TestSummarizeLogsTheLastDroppedLineOnceQuiet(t *testing.T) {
	ts := &timers{}
	l, buf, c := newLog(Options{Rate: rate.Inf, Summarize: true, AfterFunc: func(d time.Duration, f func()) { ts.afterFunc(d, f) }})
	ts.c = c
	for i := range 15 {
		ev := "worker attached"
		if i%2 == 1 {
			ev = "worker detached"
		}
		l.LogAt(slog.LevelInfo, "w1", ev, slog.String("worker", "w1"), slog.Int("i", i))
	}
	if n := len(lines(buf)); n != DefaultSourceBurst {
		t.Fatalf("%d lines, want the burst of %d", n, DefaultSourceBurst)
	}
	flapped := c.t
	buf.Reset()
	c.t = c.t.Add(DefaultSourceEvery - time.Nanosecond)
	if ts.fire(); buf.Len() != 0 {
		t.Fatalf("logged before the budget allows a line: %s", buf)
	}
	c.t = c.t.Add(time.Nanosecond)
	if ts.fire() != 1 {
		t.Fatal("no flush once the budget allows a line")
	}
	got := lines(buf)
	if want := ` level=INFO msg="worker attached" worker=w1 i=14 dropped_at=` + flapped.UTC().Format("2006-01-02T15:04:05.000Z07:00") +
		" not_logged_before=4"; len(got) != 1 || !strings.HasSuffix(got[0], want) {
		t.Fatalf("got %q\nwant one line …%q", got, want)
	}
	if buf.Reset(); ts.fire() != 0 || len(ts.due) != 0 {
		t.Fatalf("timers left after the flush: %d", len(ts.due))
	}
	c.t = c.t.Add(DefaultSourceEvery)
	if !l.LogAt(slog.LevelInfo, "w1", "worker detached") || strings.Contains(buf.String(), "not_logged_before") {
		t.Fatalf("the summarized lines are counted again: %s", buf)
	}

	// A line logged before the flush makes the kept one stale.
	for range 2 * DefaultSourceBurst {
		l.LogAt(slog.LevelInfo, "w2", "worker detached")
	}
	c.t = c.t.Add(DefaultSourceEvery)
	if !l.LogAt(slog.LevelInfo, "w2", "worker attached") {
		t.Fatal("w2's line dropped once its budget allows one")
	}
	if buf.Reset(); ts.fire() != 1 || buf.Len() != 0 {
		t.Fatalf("a stale line was logged: %s", buf)
	}
}

// TestWithoutSummarizeNothingIsKept: the refusals' budgets (strangers'
// addresses) keep no line.
func TestWithoutSummarizeNothingIsKept(t *testing.T) {
	l, _, _ := newLog(Options{AfterFunc: func(time.Duration, func()) { t.Fatal("a timer without Summarize") }})
	for range 100 {
		l.Refused("192.0.2.1:1", "refused")
	}
	if len(l.dropped) != 0 {
		t.Fatalf("%d lines kept", len(l.dropped))
	}
}

// TestStopLogsWhatIsKeptAndEndsTheTimers: Stop logs a kept line at once,
// though the budget does not allow one yet; the timer scheduled for it then
// does nothing and schedules no other, and no line dropped later is kept.
func TestStopLogsWhatIsKeptAndEndsTheTimers(t *testing.T) {
	ts := &timers{}
	l, buf, c := newLog(Options{Rate: rate.Inf, Summarize: true, AfterFunc: func(d time.Duration, f func()) { ts.afterFunc(d, f) }})
	ts.c = c
	for i := range DefaultSourceBurst + 3 {
		l.LogAt(slog.LevelInfo, "w1", "worker detached", slog.Int("i", i))
	}
	buf.Reset()
	l.Stop()
	if got := lines(buf); len(got) != 1 || !strings.Contains(got[0], "i=12 dropped_at=") || !strings.HasSuffix(got[0], "not_logged_before=2") {
		t.Fatalf("Stop logged %q, want the kept line", got)
	}
	buf.Reset()
	c.t = c.t.Add(DefaultSourceEvery)
	if ts.fire(); buf.Len() != 0 || len(ts.due) != 0 {
		t.Fatalf("after Stop the timer logged %q and left %d timers", buf, len(ts.due))
	}
	for range 2 * DefaultSourceBurst {
		l.LogAt(slog.LevelInfo, "w2", "worker detached")
	}
	if len(l.dropped) != 0 || len(ts.due) != 0 {
		t.Fatalf("after Stop %d lines kept, %d timers", len(l.dropped), len(ts.due))
	}
}
