package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ParseCron parses a nightly scheduler's cron expression, five fields
// "minute hour day-of-month month day-of-week" (see checkCron for what each
// may hold), into the schedule the scheduler runs on. Day-of-week 0 and 7
// both mean Sunday, as in croniter (Buildbot's Nightly) and cron. Checking
// a config and running its schedulers both parse with it, so a config that
// loads never holds an expression the scheduler cannot use.
func ParseCron(expr string) (cron.Schedule, error) {
	if err := checkCron(expr); err != nil {
		return nil, err
	}
	fields := strings.Fields(expr)
	fields[4] = sundayIsZero(fields[4])
	s, err := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, err
	}
	// A day the months named never have (30 2) never comes; the parser
	// looks five years ahead, past a leap year, wherever it starts.
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("never comes: no month it names has day-of-month %q", fields[2])
	}
	return s, nil
}

// sundayIsZero rewrites the parts of a day-of-week field (checked by
// checkCron) that name day 7 so that they do not: a part that ends at 7 (7
// itself, or a range) is the list of its days, 7 being 0.
func sundayIsZero(field string) string {
	parts := strings.Split(field, ",")
	for i, part := range parts {
		rng, step, _ := strings.Cut(part, "/")
		if rng == "*" {
			continue
		}
		first, last, isRange := strings.Cut(rng, "-")
		if !isRange {
			last = first
		}
		from, _ := strconv.Atoi(first)
		if to, _ := strconv.Atoi(last); to != 7 {
			continue
		}
		every := 1
		if step != "" {
			every, _ = strconv.Atoi(step)
		}
		var days []string
		for d := from; d <= 7; d += every {
			days = append(days, strconv.Itoa(d%7))
		}
		parts[i] = strings.Join(days, ",")
	}
	return strings.Join(parts, ",")
}

// cronFields are the five fields of a cron expression, with their ranges.
// Day-of-week 0 and 7 both mean Sunday.
var cronFields = [5]struct {
	name   string
	lo, hi int
}{
	{"minute", 0, 59},
	{"hour", 0, 23},
	{"day-of-month", 1, 31},
	{"month", 1, 12},
	{"day-of-week", 0, 7},
}

// checkCron reports whether expr is a valid 5-field cron expression
// ("minute hour day-of-month month day-of-week"). Each field is a
// comma-separated list of "*", a number, or a range "a-b", where "*" and a
// range may take a step ("*/15", "1-30/2"). Names (jan, mon) and the
// non-standard extensions (L, W, #, ?) are not accepted.
func checkCron(expr string) error {
	fields := strings.Fields(expr)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("has %d fields, want 5 (minute hour day-of-month month day-of-week)", len(fields))
	}
	for i, f := range fields {
		spec := cronFields[i]
		for part := range strings.SplitSeq(f, ",") {
			if err := checkCronPart(part, spec.lo, spec.hi); err != nil {
				return fmt.Errorf("%s field %q: %w", spec.name, f, err)
			}
		}
	}
	return nil
}

func checkCronPart(part string, lo, hi int) error {
	rng, step, hasStep := strings.Cut(part, "/")
	if hasStep {
		if n, ok := digits(step, 4); !ok || n < 1 || n > hi {
			return fmt.Errorf("step %q is not a number from 1 to %d", step, hi)
		}
	}
	if rng == "*" {
		return nil
	}
	first, last, isRange := strings.Cut(rng, "-")
	if hasStep && !isRange {
		return fmt.Errorf("a step needs * or a range before it")
	}
	a, err := cronValue(first, lo, hi)
	if err != nil || !isRange {
		return err
	}
	b, err := cronValue(last, lo, hi)
	if err != nil {
		return err
	}
	if b < a {
		return fmt.Errorf("range %q runs backwards", rng)
	}
	return nil
}

func cronValue(s string, lo, hi int) (int, error) {
	n, ok := digits(s, 4)
	switch {
	case !ok:
		return 0, fmt.Errorf("%q is not a number", s)
	case n < lo || n > hi:
		return 0, fmt.Errorf("%d is out of range %d-%d", n, lo, hi)
	}
	return n, nil
}
