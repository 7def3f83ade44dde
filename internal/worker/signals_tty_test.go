package worker

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

const ttyRoleEnv = "BUILDWORKER_TEST_TTY" // "leader" or "writer"

// TestBackgroundWriteToTerminal: a worker started with SIGTTOU ignored,
// in the background of a terminal set to stop background writers
// (stty tostop), writes its output to the terminal as any process that
// ignores SIGTTOU does; a caught SIGTTOU (a handler that drops it) would
// make the kernel signal and restart each write for ever.
func TestBackgroundWriteToTerminal(t *testing.T) {
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	leader := exec.Command(os.Args[0], "-test.run=^TestTTYChild$", "-test.count=1")
	leader.Env = append(os.Environ(), ttyRoleEnv+"=leader")
	leader.Stdin, leader.Stdout = pts, pts
	stderr, err := leader.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	leader.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = leader.Process.Kill(); _ = leader.Wait() })
	writer := make(chan int, 1)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			if pid, ok := strings.CutPrefix(s.Text(), "writer pid "); ok {
				p, _ := strconv.Atoi(pid)
				writer <- p
			}
		}
	}()
	pid := testkit.Recv(t, "the writer's pid", writer)
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	written := make(chan struct{})
	go func() {
		s := bufio.NewScanner(ptm)
		for s.Scan() {
			if strings.Contains(s.Text(), "written by the background worker") {
				close(written)
				return
			}
		}
	}()
	testkit.Recv(t, "the background worker's line on the terminal", written)
}

// TestTTYChild is a process of TestBackgroundWriteToTerminal; it only runs
// as a child of a test. The leader (a session leader on the terminal) sets
// tostop, ignores SIGTTOU and starts the writer in a process group of its
// own; the writer, as the worker does at start, calls keepIgnoring and
// writes a line to the terminal.
func TestTTYChild(t *testing.T) {
	switch os.Getenv(ttyRoleEnv) {
	case "leader":
		tio, err := unix.IoctlGetTermios(0, unix.TCGETS)
		if err != nil {
			panic(err)
		}
		tio.Lflag |= unix.TOSTOP
		if err := unix.IoctlSetTermios(0, unix.TCSETS, tio); err != nil {
			panic(err)
		}
		signal.Ignore(syscall.SIGTTOU)
		w := exec.Command(os.Args[0], "-test.run=^TestTTYChild$", "-test.count=1")
		w.Env = append(os.Environ(), ttyRoleEnv+"=writer")
		w.Stdout = os.Stdout
		w.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := w.Start(); err != nil {
			panic(err)
		}
		fmt.Fprintf(os.Stderr, "writer pid %d\n", w.Process.Pid)
		_ = w.Wait()
		os.Exit(0)
	case "writer":
		if err := keepIgnoring(); err != nil {
			panic(err)
		}
		fmt.Println("written by the background worker")
		os.Exit(0)
	default:
		t.Skip("a process of TestBackgroundWriteToTerminal")
	}
}
