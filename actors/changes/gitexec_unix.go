//go:build unix

package changes

import (
	"os/exec"
	"syscall"
)

// killGroup makes cmd the leader of its own process group, and makes its
// cancellation kill the whole group: git's helpers (ssh, remote helpers,
// upload-pack) die with it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
