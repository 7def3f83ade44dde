package workercmd

import (
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// TestWaitingForExitHoldsNoThread: while a command runs with its output
// closed, the goroutine that waits for its leader's exit is parked in the
// network poller ("IO wait"), not blocked in a waitid syscall that holds
// an OS thread.
func TestWaitingForExitHoldsNoThread(t *testing.T) {
	r := start(t, Shell{Script: `echo up; exec >&- 2>&-; sleep 1000`})
	r.cap.waitFor(t, Stdout, "up\n")
	header := regexp.MustCompile(`^goroutine \d+ \[([^\],]+)`)
	deadline := time.Now().Add(testkit.DefaultTimeout)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var state string
		for _, g := range strings.Split(stacks, "\n\n") {
			if m := header.FindStringSubmatch(g); m != nil && strings.Contains(g, "workercmd.waitExit") {
				state = m[1]
			}
		}
		switch state {
		case "IO wait":
			r.cancel()
			if res := r.wait(t); !res.Interrupted {
				t.Fatalf("%+v", res)
			}
			return
		case "syscall":
			t.Fatal("the exit waiter blocks in a syscall")
		}
		if time.Now().After(deadline) {
			t.Fatalf("no exit waiter parked; last state %q", state)
		}
		runtime.Gosched()
	}
}

// On a kernel with pidfd_open whose waitid does not take a pidfd (Linux
// 5.3: EINVAL) or lacks it (ENOSYS), waitExit falls back to the blocking
// waitid instead of failing.
func TestWaitExitFallsBackWhenWaitidTakesNoPidfd(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EINVAL, unix.ENOSYS} {
		cmd := exec.Command("true")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		oldKernel := func(idType, id int, info *unix.Siginfo, options int, rusage *unix.Rusage) error {
			if idType == unix.P_PIDFD {
				return errno
			}
			return unix.Waitid(idType, id, info, options, rusage)
		}
		if err := waitExitWith(cmd.Process.Pid, oldKernel); err != nil {
			t.Errorf("waitid failing with %v: %v", errno, err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
}
