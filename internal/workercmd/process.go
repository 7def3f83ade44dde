package workercmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file holds the process-level pieces of RunShell: finding the
// program, starting it, waiting for the group leader without reaping it,
// reaping it, signalling the group, naming signals.

// spec is a command ready to start: the program's path (found by
// lookPath), its argv, environment and working directory.
type spec struct {
	path      string
	argv, env []string
	dir       string
}

// start starts the command as the leader of a process group of its own,
// with stdin, stdout and stderr on the descriptors given, and returns its
// pid. It goes to syscall.StartProcess, not os/exec: os/exec would need an
// *os.File for each descriptor (each made with a system call) and opens a
// pidfd that it closes again after Wait, while RunShell waits for the
// leader itself (hasExited, waitExit, reap).
func (sp spec) start(stdin, stdout, stderr int) (pid int, err error) {
	pid, _, err = syscall.StartProcess(sp.path, sp.argv, &syscall.ProcAttr{
		Dir:   sp.dir,
		Env:   sp.env,
		Files: []uintptr{uintptr(stdin), uintptr(stdout), uintptr(stderr)},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return 0, &fs.PathError{Op: "fork/exec", Path: sp.path, Err: err}
	}
	return pid, nil
}

// reap waits for the child pid to exit, reaps it and returns its status.
func reap(pid int) (syscall.WaitStatus, error) {
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		switch err {
		case nil:
			return ws, nil
		case syscall.EINTR:
			continue
		}
		return ws, os.NewSyscallError("wait4", err)
	}
}

// lookPath finds the program argv0 the way execvp(3) would in a child
// whose environment is env and whose working directory is dir (and as
// Buildbot's worker does, through Python's os.execvpe): a name with a '/'
// is taken as it is (relative to dir), anything else is looked up in
// env's PATH (an empty or relative entry is relative to dir; an empty
// PATH is the working directory, no PATH at all is /bin:/usr/bin).
func lookPath(argv0 string, env []string, dir string) (string, error) {
	if argv0 == "" {
		return "", errors.New("command not found: empty program name")
	}
	inDir := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if strings.Contains(argv0, "/") {
		p := inDir(argv0)
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("command %q: %w", argv0, err)
		}
		return p, nil
	}
	path, set := envValue(env, "PATH")
	if !set {
		path = defaultPath
	}
	dirs := filepath.SplitList(path)
	if path == "" {
		dirs = []string{""}
	}
	var denied error
	var tried []string // a PATH that names a directory twice has it stat'ed once
	for _, d := range dirs {
		if d == "" {
			d = "."
		}
		p := inDir(filepath.Join(d, argv0))
		if slices.Contains(tried, p) {
			continue
		}
		tried = append(tried, p)
		fi, err := os.Stat(p)
		if err != nil {
			continue // not here, or an unreadable PATH entry
		}
		if err = executable(p, fi); err == nil {
			return p, nil
		}
		if denied == nil {
			denied = err // there, but not executable (or a directory)
		}
	}
	if denied != nil {
		return "", fmt.Errorf("command %q: %w", argv0, denied)
	}
	return "", fmt.Errorf("command not found: %q is not in PATH %q: %w", argv0, path, exec.ErrNotFound)
}

// defaultPath is where execvp(3) and Python's os.get_exec_path look for
// a program when the environment has no PATH.
const defaultPath = "/bin:/usr/bin"

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	return executable(p, fi)
}

// executable checks that p, whose stat is fi, may be run.
func executable(p string, fi fs.FileInfo) error {
	if fi.IsDir() {
		return &fs.PathError{Op: "exec", Path: p, Err: syscall.EISDIR}
	}
	if fi.Mode()&0o111 == 0 {
		return &fs.PathError{Op: "exec", Path: p, Err: fs.ErrPermission}
	}
	if err := syscall.Access(p, 1 /* X_OK */); err != nil {
		return &fs.PathError{Op: "exec", Path: p, Err: err}
	}
	return nil
}

// hasExited reports, without waiting, whether the child pid has exited,
// leaving it a zombie as waitExit does; false when waitid fails.
func hasExited(pid int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
		if err != unix.EINTR {
			return err == nil && info.Signo != 0
		}
	}
}

// waitExit returns once the child pid has exited, leaving it a zombie
// (waitid with WNOWAIT): while the zombie is not reaped (reap),
// its pid, which is the process group id, cannot be reused, so signalling
// the group never hits a stranger. It waits through a pidfd in the
// runtime's network poller, so no thread is held in a blocking syscall for
// the command's whole run (a held thread keeps the runtime's sysmon
// ticking every 20 µs and hands its P to another thread); where pidfds are
// not available (no pidfd_open, or a kernel before 5.4 whose waitid does
// not take a pidfd) it blocks in waitid.
func waitExit(pid int) error { return waitExitWith(pid, unix.Waitid) }

// waitExitWith is waitExit making its waitid calls on a pidfd through
// waitid (tests inject the errors of older kernels).
func waitExitWith(pid int, waitid func(idType, id int, info *unix.Siginfo, options int, rusage *unix.Rusage) error) error {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return waitExitBlocking(pid)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return waitExitBlocking(pid)
	}
	var werr error
	unsupported := false
	err = rc.Read(func(fd uintptr) bool {
		var info unix.Siginfo
		werr = waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
		switch {
		case werr == unix.EINTR:
			return false
		case werr == unix.EINVAL || werr == unix.ENOSYS: // P_PIDFD unknown (Linux 5.3)
			unsupported = true
			return true
		case werr != nil:
			werr = os.NewSyscallError("waitid", werr)
			return true
		}
		return info.Signo != 0 // 0: not exited yet; the poller waits for the pidfd to be readable
	})
	if err != nil || unsupported { // the poller or waitid does not take the pidfd
		return waitExitBlocking(pid)
	}
	return werr
}

// waitExitBlocking is waitExit in a blocking waitid(P_PID, pid,
// WEXITED|WNOWAIT).
func waitExitBlocking(pid int) error {
	const pPID = 1
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return os.NewSyscallError("waitid", e)
		}
	}
}

// killGroup sends sig to process group pgid; a group that is already gone
// is not an error.
func killGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if err == syscall.ESRCH {
		return nil
	}
	return err
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGSYS: "SIGSYS",
}

// signalName is "SIGKILL" and the like, "SIG<n>" for the rest.
func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("SIG%d", int(s))
}
