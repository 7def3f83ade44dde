package workercmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// Every descriptor RunShell makes for a command is close-on-exec: a
// worker runs several commands at once, and a command that inherited
// another's pipe write end would keep that command's reader from seeing
// EOF until it exits itself.
func TestCommandDescriptorsAreCloseOnExec(t *testing.T) {
	t.Parallel()
	r, w, err := outputPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer unix.Close(w)
	in, err := devNull()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	for name, fd := range map[string]int{"pipe read end": int(r.Fd()), "pipe write end": w, "/dev/null": in} {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s (fd %d) is not close-on-exec", name, fd)
		}
	}
}

// Commands started at the same moment inherit none of each other's
// descriptors: a long command holds only its own stdin, stdout and
// stderr, and a short one started beside it ends without waiting for it.
func TestConcurrentCommandsInheritNoDescriptor(t *testing.T) {
	t.Parallel()
	pidDir := t.TempDir()
	// What this test process got from its parent without close-on-exec
	// (a shell's descriptors, say) its commands inherit too.
	inherited := map[string]bool{}
	for _, fd := range descriptors(t, os.Getpid()) {
		n, _, _ := strings.Cut(fd, "->")
		if flags, err := unix.FcntlInt(uintptr(atoi(t, n)), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			inherited[fd] = true
		}
	}
	for round := range 20 {
		gate := make(chan struct{})
		var wg sync.WaitGroup
		long := make([]*running, 2)
		short := make([]*running, 2)
		for i := range long {
			wg.Go(func() {
				<-gate
				pidFile := filepath.Join(pidDir, fmt.Sprintf("%d-%d", round, i))
				long[i] = start(t, Shell{Script: "echo $$ > " + pidFile + "; exec sleep 1000"})
			})
			wg.Go(func() {
				<-gate
				short[i] = start(t, Shell{Argv: []string{"true"}})
			})
		}
		close(gate)
		wg.Wait()
		for i := range long {
			pidFile := filepath.Join(pidDir, fmt.Sprintf("%d-%d", round, i))
			var pid int
			testkit.Retry(t, func() error {
				b, err := os.ReadFile(pidFile)
				if err != nil || !strings.HasSuffix(string(b), "\n") {
					return fmt.Errorf("no pid in %s yet (%v)", pidFile, err)
				}
				pid = firstInts(t, string(b))[0]
				// Once sleep sleeps, the dynamic loader has closed
				// what it opened.
				sc, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
				if errors.Is(err, fs.ErrPermission) {
					t.Skipf("cannot tell when sleep sleeps: %v", err)
				}
				if f := strings.Fields(string(sc)); err != nil || len(f) == 0 ||
					f[0] != strconv.Itoa(unix.SYS_CLOCK_NANOSLEEP) && f[0] != strconv.Itoa(unix.SYS_NANOSLEEP) {
					return fmt.Errorf("process %d is not sleeping yet: %q (%v)", pid, sc, err)
				}
				return nil
			})
			if extra := strangeDescriptors(t, pid, inherited); len(extra) > 0 {
				t.Fatalf("round %d: the long command holds %v besides its stdin, stdout, stderr and what the test process inherited", round, extra)
			}
		}
		for _, r := range short {
			if res := r.wait(t); res.ExitCode != 0 || res.Err != nil {
				t.Fatalf("round %d: short command: %+v", round, res)
			}
		}
		for _, r := range long {
			r.cancel()
			if res := r.wait(t); !res.Interrupted {
				t.Fatalf("round %d: long command: %+v", round, res)
			}
		}
	}
}

// descriptors lists the open descriptors of process pid as "n->target".
func descriptors(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		if link, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			fds = append(fds, e.Name()+"->"+link)
		}
	}
	return fds
}

// strangeDescriptors lists the descriptors of process pid other than 0, 1,
// 2 and those in inherited.
func strangeDescriptors(t *testing.T, pid int, inherited map[string]bool) []string {
	t.Helper()
	var extra []string
	for _, fd := range descriptors(t, pid) {
		if n, _, _ := strings.Cut(fd, "->"); atoi(t, n) > 2 && !inherited[fd] {
			extra = append(extra, fd)
		}
	}
	return extra
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// RunShell closes every descriptor it made, however the command ends: it
// ran, it could not start (exec failed in the child), it was killed by
// the no-output timeout or interrupted while its output was closed. Not
// parallel: other tests' commands would hold descriptors meanwhile.
func TestNoDescriptorLeftOpen(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("\x7fELF, but no program"), 0o755); err != nil {
		t.Fatal(err)
	}
	runAll := func() {
		if res, _ := runShell(t, Shell{Script: "echo out; echo err >&2; exit 3"}); res.ExitCode != 3 {
			t.Fatalf("ran: %+v", res)
		}
		if res, _ := runShell(t, Shell{Argv: []string{garbage}}); res.Err == nil || !strings.Contains(res.Err.Error(), "cannot start") {
			t.Fatalf("exec failed: %+v", res)
		}
		if res, _ := runShell(t, Shell{Script: "exec sleep 1000", Timeout: time.Millisecond}); !res.TimedOut {
			t.Fatalf("timed out: %+v", res)
		}
		r := start(t, Shell{Script: "echo up; exec >&- 2>&-; sleep 1000"})
		r.cap.waitFor(t, Stdout, "up\n")
		r.cancel()
		if res := r.wait(t); !res.Interrupted {
			t.Fatalf("interrupted: %+v", res)
		}
	}
	runAll() // whatever the runtime opens once is open now
	before := descriptors(t, os.Getpid())
	for range 3 {
		runAll()
	}
	if after := descriptors(t, os.Getpid()); !slices.Equal(before, after) {
		t.Errorf("descriptors before %v, after %v", before, after)
	}
}
