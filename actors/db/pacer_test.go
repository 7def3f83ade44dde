package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/logchunk"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// The pacer halves the batch after one that took more than its target,
// grows it by a quarter after one that took less than half of it, keeps it
// within [max/10, max], and waits as long as each batch took.
func TestPacer(t *testing.T) {
	p := newPacer(40)
	var waited []time.Duration
	p.wait = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	if p.next() != 4 {
		t.Fatalf("first batch %d, want 4 (max/10)", p.next())
	}
	var sizes []int
	for _, took := range []time.Duration{time.Millisecond, time.Millisecond, 7 * time.Millisecond, time.Millisecond,
		time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond,
		11 * time.Millisecond, time.Second, time.Second, time.Second, time.Second} {
		if err := p.took(context.Background(), took); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, p.next())
	}
	want := []int{5, 6, 6, 7, 8, 10, 12, 15, 18, 22, 11, 5, 4, 4, 4}
	if !slices.Equal(sizes, want) {
		t.Errorf("sizes %v, want %v", sizes, want)
	}
	for range 20 {
		_ = p.took(context.Background(), 0)
	}
	if p.next() != 40 {
		t.Errorf("after fast batches: %d, want the max 40", p.next())
	}
	if len(waited) != 35 || waited[2] != 7*time.Millisecond || waited[11] != time.Second {
		t.Errorf("waited %v, want each batch's time", waited)
	}
	if newPacer(0).max != DefaultJanitorBatch || newPacer(5).min != 1 {
		t.Errorf("default max %d, min of 5: %d", newPacer(0).max, newPacer(5).min)
	}
}

// A wait ends with its context.
func TestPacerSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep: %v", err)
	}
	if err := sleep(context.Background(), 0); err != nil {
		t.Fatalf("sleep 0: %v", err)
	}
}

// janitorRuntime returns a Runtime for runJanitor over store st, with a
// log store of its own; and the Expire commands and probe builders the
// state commits, in order.
func janitorRuntime(t *testing.T, st *state.Store) (*service.Runtime, func() []string) {
	t.Helper()
	logs, err := logchunk.Open(filepath.Join(t.TempDir(), "logs"), logchunk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	ch := make(chan string, 1<<16)
	st.OnCommit(func(changes memdb.Changes) {
		builds := 0
		for _, c := range changes {
			switch {
			case c.Table == state.TableBuilds && c.After == nil:
				builds++
			case c.Table == state.TableBuilders && c.Before == nil:
				ch <- c.After.(*messages.Builder).Name
			}
		}
		if builds > 0 {
			ch <- fmt.Sprintf("expire %d", builds)
		}
	})
	t.Cleanup(func() { st.OnCommit(nil) })
	committed := func() []string {
		var out []string
		for {
			select {
			case s := <-ch:
				out = append(out, s)
			default:
				return out
			}
		}
	}
	return &service.Runtime{DB: st, Logs: logs, Log: slog.New(slog.DiscardHandler)}, committed
}

// expiringHistory is a state of builds finished builds of one builder, all
// past a horizon of an hour at now (but the newest).
func expiringHistory(t *testing.T, builds int) (*state.Store, time.Time) {
	t.Helper()
	st := state.OpenEphemeral()
	t.Cleanup(func() { st.Close() })
	submit := StoreSubmitter(st)
	ApplyAll(t, submit, &messages.MasterStarted{Name: "m", Time: 1})
	for i := range builds {
		at := int64(1000 + 10*i)
		buildid, stepid, _ := AddTestBuild(t, submit, 1, at, "stdio")
		ApplyAll(t, submit, &messages.FinishBuild{Buildid: buildid, Results: state.ResultSuccess, CompleteAt: at + 1,
			LastStep: &messages.FinishStep{Stepid: stepid, Results: state.ResultSuccess, CompleteAt: at + 1}})
	}
	return st, time.Unix(1_000_000, 0)
}

// The janitor's batches follow its pacer: all of the smallest size while
// each takes more than the target, growing to the most when they take
// nothing.
func TestJanitorBatchesArePaced(t *testing.T) {
	for _, c := range []struct {
		name   string
		target time.Duration
		want   []string
	}{
		{"slow", time.Nanosecond, []string{"expire 2", "expire 2", "expire 2", "expire 2", "expire 2", "expire 2", "expire 2", "expire 2", "expire 2", "expire 2", "expire 1"}},
		{"fast", time.Hour, []string{"expire 2", "expire 3", "expire 4", "expire 5", "expire 6", "expire 1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, now := expiringHistory(t, 22)
			rt, committed := janitorRuntime(t, st)
			pace := newPacer(20)
			pace.target = c.target
			pace.wait = func(context.Context, time.Duration) error { return nil }
			committed()
			res, err := runJanitor(context.Background(), rt, &messages.HorizonsConfig{Builds: hours(3600)}, now, false, &logHorizon{}, pace)
			if err != nil || res.Builds != 21 {
				t.Fatalf("runJanitor: %v, %v", res, err)
			}
			if got := committed(); !slices.Equal(got, c.want) {
				t.Errorf("writes %v, want %v", got, c.want)
			}
		})
	}
}

// After each of its writes the janitor waits as long as the write took,
// and writes nothing meanwhile: a chain of writes submitted during the
// wait, each once the one before is applied (a build's start: its
// buildset, then its build), is applied before the janitor's next write.
func TestJanitorYieldsBetweenBatches(t *testing.T) {
	st, now := expiringHistory(t, 5)
	rt, committed := janitorRuntime(t, st)
	pace := newPacer(1)
	var waits []time.Duration
	pace.wait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		// The chain starts as the wait does, from elsewhere, each write
		// submitted once the one before is applied.
		done := make(chan error, 1)
		n := len(waits)
		go func() {
			var err error
			for k := range 2 {
				if _, err = st.SubmitWait(ctx, messages.NewCommand(&messages.FindOrAddBuilder{Name: fmt.Sprintf("probe-%d-%d", n, k)})); err != nil {
					break
				}
			}
			done <- err
		}()
		if err := testkit.Recv(t, "the chain of writes", done); err != nil {
			t.Error(err)
		}
		return sleep(ctx, d)
	}
	committed()
	if _, err := runJanitor(context.Background(), rt, &messages.HorizonsConfig{Builds: hours(3600)}, now, false, &logHorizon{}, pace); err != nil {
		t.Fatal(err)
	}
	want := []string{"expire 1", "probe-1-0", "probe-1-1", "expire 1", "probe-2-0", "probe-2-1", "expire 1", "probe-3-0", "probe-3-1", "expire 1", "probe-4-0", "probe-4-1"}
	if got := committed(); !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v", got, want)
	}
	for i, d := range waits {
		if d <= 0 {
			t.Errorf("wait %d: %v, want the time the write before took", i, d)
		}
	}
}
