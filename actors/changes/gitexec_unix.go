//go:build unix

package changes

import (
	"os/exec"
	"syscall"
)

// killGroup makes cmd the leader of its own process group, and makes its
// cancellation kill the whole group: git's helpers (ssh, remote helpers,
// upload-pack) die with it. Where the system can, git is also killed when
// the master dies (kill -9 included), so that no git goes on writing into
// the master's data directory.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
