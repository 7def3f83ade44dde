package state

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// records is a slog.Handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// attrs returns the attributes of the records with message msg.
func (r *records) attrs(msg string) []map[string]slog.Value {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]slog.Value
	for _, rec := range r.recs {
		if rec.Message == msg {
			m := map[string]slog.Value{}
			rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value; return true })
			out = append(out, m)
		}
	}
	return out
}

// TestOpenLogsItsRecovery: Open logs the end of its recovery (rows
// restored from the snapshot, the last index), and its progress while it
// lasts.
func TestOpenLogsItsRecovery(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		if _, err := s.Submit(addChange(change(fmt.Sprintf("a%d", i), "main", int64(i+1)))).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // with a snapshot
		t.Fatal(err)
	}

	log := &records{}
	s, err = Open(dir, Options{Logger: slog.New(log), ProgressInterval: time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := log.attrs("state: recovered")
	if len(done) != 1 {
		t.Fatalf("%d 'state: recovered' lines", len(done))
	}
	// n changes, n sourcestamps, the row counts.
	if rows := done[0]["snapshot_rows"].Uint64(); rows < 2*n {
		t.Errorf("restored %d rows from the snapshot, want at least %d", rows, 2*n)
	}
	if last := done[0]["last_index"].Uint64(); last < n {
		t.Errorf("last index %d", last)
	}
	if len(log.attrs("state: restoring snapshot"))+len(log.attrs("state: replaying log")) == 0 {
		t.Error("no progress line, at an interval of 1µs")
	}
}
