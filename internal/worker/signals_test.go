package worker

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestCommandsStartWithDefaultSignals: a worker started with signals
// ignored (nohup, the background of a non-interactive shell) runs its
// commands with no signal ignored but SIGTTIN and SIGTTOU (keepIgnoring),
// and itself still survives a SIGHUP.
func TestCommandsStartWithDefaultSignals(t *testing.T) {
	m := startMaster(t, nil)
	dir := t.TempDir()
	w := startWorkerIgnoring(t, "HUP INT QUIT TSTP TTIN TTOU",
		[]string{"--master", m.addr, "--name", "w1", "--basedir", dir}, "50ms", PasswordEnv+"=pw-w1")
	conn := testkit.Recv(t, "the worker's login", m.conns)
	w.connected(1)
	if err := conn.SetBuilderList(t.Context(), map[string]string{"b1": "b1"}); err != nil {
		t.Fatal(err)
	}
	// SigIgn's mask: bit n-1 for signal n.
	want := fmt.Sprintf("%016x", 1<<(syscall.SIGTTIN-1)|1<<(syscall.SIGTTOU-1))
	sigIgn := func(id string) string {
		t.Helper()
		s := newSink()
		run(t, conn, id, "shell", map[string]any{"workdir": "build", "command": []any{"grep", "^SigIgn:", "/proc/self/status"}, "logEnviron": false}, s)
		out, rc, _ := s.wait(t)
		if rc != 0 {
			t.Fatalf("rc %d out %q", rc, out)
		}
		return strings.TrimSpace(strings.TrimPrefix(out["stdout"], "SigIgn:"))
	}
	if got := sigIgn("before"); got != want {
		t.Fatalf("the command's ignored signals: SigIgn %s, want %s (SIGTTIN, SIGTTOU)", got, want)
	}

	pid := w.cmd.Process.Pid
	w.signal(syscall.SIGHUP)
	testkit.Eventually(t, "the worker takes the SIGHUP", func() bool {
		return !hupPending(t, pid)
	})
	if got := sigIgn("after"); got != want {
		t.Fatalf("after a SIGHUP, the command's ignored signals: SigIgn %s, want %s (SIGTTIN, SIGTTOU)", got, want)
	}
	select {
	case <-w.exited:
		t.Fatalf("the worker exited on SIGHUP (code %d)", w.code)
	default:
	}
}

// hupPending reports whether process pid has a SIGHUP pending (SigPnd,
// ShdPnd in /proc/pid/status); a process that is gone has none.
func hupPending(t *testing.T, pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	for line := range bytes.Lines(b) {
		for _, key := range []string{"SigPnd:", "ShdPnd:"} {
			if hex, ok := bytes.CutPrefix(line, []byte(key)); ok {
				mask, err := strconv.ParseUint(string(bytes.TrimSpace(hex)), 16, 64)
				if err != nil {
					t.Fatalf("%s in /proc/%d/status: %v", key, pid, err)
				}
				if mask&(1<<(syscall.SIGHUP-1)) != 0 {
					return true
				}
			}
		}
	}
	return false
}
