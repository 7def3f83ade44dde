package workercmd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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

// lookPath picks the program glibc's execvp (run by env(1)) runs, or
// fails as it does, for PATHs that name a directory twice (spelled alike
// or not), hold an empty or relative entry, or put a directory or a file
// that cannot be run before the program.
// Without PATH in the environment a program is looked for in /bin, then
// /usr/bin, as execvp(3) and Python's os.execvpe (Buildbot's worker) do.
func TestLookPathWithoutPATH(t *testing.T) {
	p, err := lookPath("sh", []string{"HOME=/"}, t.TempDir())
	if err != nil || p != "/bin/sh" {
		t.Errorf("lookPath sh without PATH = %q, %v; want /bin/sh", p, err)
	}
}

func TestLookPathAsExecvp(t *testing.T) {
	t.Parallel()
	envPath, err := exec.LookPath("env")
	if err != nil {
		t.Skip(err)
	}
	work := t.TempDir()
	prog := func(dir, mode string) {
		if err := os.MkdirAll(filepath.Join(work, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(work, dir, "prog")
		switch mode {
		case "dir":
			err = os.Mkdir(p, 0o755)
		case "noexec":
			err = os.WriteFile(p, []byte("#!/bin/sh\necho "+dir+"\n"), 0o644)
		default:
			err = os.WriteFile(p, []byte("#!/bin/sh\necho "+dir+"\n"), 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	prog(".", "run") // the workdir: empty PATH entries
	prog("a", "noexec")
	prog("b", "run")
	prog("c", "run")
	prog("d", "dir")
	if err := os.Mkdir(filepath.Join(work, "e"), 0o755); err != nil { // no prog
		t.Fatal(err)
	}
	for _, path := range []string{
		"a:b", "a:a:b", "b:c", "c:b:c", "a", "a:a", "d:b", "d", "d:d", "e:e:c",
		":b", "b::", "e::b", "./b:c", "b/:b:c", "c/./:b", "e/../c:b", "a:./a/:a/",
		work + "/c:c", "c:" + work + "/c:b", "e:" + work + "/e", "",
	} {
		cmd := exec.Command(envPath, "prog")
		cmd.Dir, cmd.Env = work, []string{"PATH=" + path}
		out, err := cmd.Output()
		var want string
		switch code := cmd.ProcessState.ExitCode(); {
		case err == nil:
			want = "runs " + string(out)
		case code == 126:
			want = "denied"
		case code == 127:
			want = "not found"
		default:
			t.Fatalf("PATH %q: env: %v", path, err)
		}
		var got string
		p, err := lookPath("prog", []string{"PATH=" + path}, work)
		switch {
		case err == nil:
			out, err := exec.Command(p).Output()
			if err != nil {
				t.Fatalf("PATH %q: %s: %v", path, p, err)
			}
			got = "runs " + string(out)
		case errors.Is(err, exec.ErrNotFound):
			got = "not found"
		default:
			got = "denied"
		}
		if got != want {
			t.Errorf("PATH %q: lookPath %s (%v), execvp %s", path, got, err, want)
		}
	}
}
