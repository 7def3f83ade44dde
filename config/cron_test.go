package config

import (
	"strings"
	"testing"
	"time"
)

// TestParseCronSchedules: what ParseCron accepts is scheduled as croniter
// (Buildbot's Nightly) would: day-of-week 7 is Sunday, alone, in a range,
// with a step and in a list.
func TestParseCronSchedules(t *testing.T) {
	sat := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // a Saturday
	if sat.Weekday() != time.Saturday {
		t.Fatal("the fixture is not a Saturday")
	}
	sun3 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		expr string
		from time.Time
		want []time.Time // the next runs after from
	}{
		{"0 3 * * 7", sat, []time.Time{sun3, sun3.AddDate(0, 0, 7)}},
		{"0 3 * * 0", sat, []time.Time{sun3, sun3.AddDate(0, 0, 7)}},
		{"0 3 * * 6-7", sat, []time.Time{sun3, sun3.AddDate(0, 0, 6), sun3.AddDate(0, 0, 7)}},
		{"0 3 * * 5-7/2", sat, []time.Time{sun3, sun3.AddDate(0, 0, 5), sun3.AddDate(0, 0, 7)}},  // Fri, Sun
		{"0 3 * * 1,7", sat, []time.Time{sun3, sun3.AddDate(0, 0, 1), sun3.AddDate(0, 0, 7)}},    // Mon, Sun
		{"0 3 * * 0-7", sat, []time.Time{sun3, sun3.AddDate(0, 0, 1), sun3.AddDate(0, 0, 2)}},    // every day
		{"30 12 * * 1-5", sat, []time.Time{sun3.Add(33*time.Hour + 30*time.Minute)}},             // Monday 12:30
		{"0 0 1 * *", sat, []time.Time{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}},             // day-of-month alone
		{"0 0 13 * 5", sat, []time.Time{time.Date(2026, 12, 11, 0, 0, 0, 0, time.UTC)}},          // either, as cron
		{"*/20 * * * *", sat, []time.Time{sat.Add(20 * time.Minute), sat.Add(40 * time.Minute)}}, // steps
	} {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := ParseCron(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			at := tt.from
			for i, want := range tt.want {
				if at = s.Next(at); !at.Equal(want) {
					t.Fatalf("run %d after %s: %s, want %s", i+1, tt.from, at, want)
				}
			}
		})
	}
}

// FuzzParseCron: ParseCron never panics, refuses what checkCron refuses and
// otherwise only a date that never comes (the run-time parser never refuses
// what checkconfig accepted), and every schedule it returns has a next run.
func FuzzParseCron(f *testing.F) {
	for _, seed := range []string{"* * * * *", "0 3 * * 7", "0 3 * * 5-7/2", "*/15 0,12 1-31/2 1,6-12 0-7",
		"59 23 31 12 7", "* * * * 8", "0 3 * * 7/2", "7-7 * * * 7-7", "0 0 31 2 *", "0 0 29 2 *", "a b c d e"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := ParseCron(expr)
		if syntax := checkCron(expr); err == nil && syntax != nil || err != nil && syntax == nil && !strings.HasPrefix(err.Error(), "never comes") {
			t.Fatalf("ParseCron(%q) = %v, but checkCron says %v", expr, err, syntax)
		}
		if err == nil && s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			t.Fatalf("ParseCron(%q): no next run", expr)
		}
	})
}
