package worker

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/wiretest"
)

// runInProcess runs a worker in this process against m, with output held
// for hold, and returns its connection (builder b1 set up) and base
// directory.
func runInProcess(t *testing.T, m *testMaster, hold time.Duration) (wire.Conn, string) {
	t.Helper()
	dir := t.TempDir()
	done := make(chan error, 1)
	go func() {
		done <- Run(t.Context(), Options{Master: m.addr, Name: "w1", Password: "pw-w1", Basedir: dir,
			Log: slog.New(slog.DiscardHandler), OutputHold: hold})
	}()
	t.Cleanup(func() { testkit.Recv(t, "Run's end", done) })
	conn := testkit.Recv(t, "the worker's login", m.conns)
	if err := conn.SetBuilderList(t.Context(), map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	return conn, dir
}

// TestGoroutinesPerShellCommand: a running shell command costs the worker
// four goroutines: the command's own, a reader per output pipe and the
// waiter for its exit. Its output's sender and the watch on the
// connection's end are a timer and a context, not goroutines.
func TestGoroutinesPerShellCommand(t *testing.T) {
	conn, dir := runInProcess(t, startMaster(t, nil), time.Hour)
	const n = 8
	before := runtime.NumGoroutine()
	sinks := make([]*sink, n)
	for i := range sinks {
		sinks[i] = newSink()
		started := filepath.Join(dir, fmt.Sprintf("started%d", i))
		run(t, conn, fmt.Sprint(i), "shell", map[string]any{"workdir": "build",
			"command": "touch " + started + "; exec sleep 1000"}, sinks[i])
		testkit.Eventually(t, "command "+fmt.Sprint(i)+"'s start", func() bool {
			_, err := os.Stat(started)
			return err == nil
		})
	}
	perCommand := float64(runtime.NumGoroutine()-before) / n
	for i, s := range sinks {
		if err := wiretest.Interrupt(t, conn, "b1", fmt.Sprint(i), "test over"); err != nil {
			t.Fatal(err)
		}
		s.wait(t)
	}
	if perCommand > 4.25 {
		t.Errorf("%.2f goroutines per running command, want 4", perCommand)
	}
}

// TestOutputGoesWhileTheCommandRuns: a running command's output reaches
// the master once it has waited OutputHold, or at once when an update's
// worth is waiting, in order, before the command ends.
func TestOutputGoesWhileTheCommandRuns(t *testing.T) {
	for _, c := range []struct {
		name   string
		hold   time.Duration
		script string
		early  string // in the output before the end
		last   string // the output's end, before "end"
	}{
		{"held", 10 * time.Millisecond, "echo one; echo two >&2; echo three", "one\nthree\n", "one\nthree\n"},
		{"full", time.Hour, "i=0; while [ $i -lt 6000 ]; do echo line-$i-0123456789012345678901234567890123456789; i=$((i+1)); done",
			"line-3000-", "line-5999-0123456789012345678901234567890123456789\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, dir := runInProcess(t, startMaster(t, nil), c.hold)
			fifo := filepath.Join(dir, "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			s := newSink()
			run(t, conn, "c", "shell", map[string]any{"workdir": "build", "logEnviron": false,
				"command": c.script + "; read x < " + fifo + "; echo end"}, s)
			testkit.Eventually(t, "the output before the end", func() bool { return strings.Contains(s.text("stdout"), c.early) })
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("go\n")
			f.Close()
			out, rc, _ := s.wait(t)
			if rc != 0 || !strings.HasSuffix(out["stdout"], c.last+"end\n") {
				t.Fatalf("rc %d stdout ends %q", rc, out["stdout"][max(0, len(out["stdout"])-200):])
			}
			if c.name == "held" && out["stderr"] != "two\n" {
				t.Fatalf("stderr %q", out["stderr"])
			}
		})
	}
}
