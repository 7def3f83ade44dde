package changes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// gitChildEnv makes the test binary the "master" of TestGitDiesWithTheMaster.
const gitChildEnv = "BM_TEST_GIT_CHILD"

// TestGitDiesWithTheMaster: a master killed with SIGKILL while git runs
// takes git with it (git would otherwise go on, here for a minute).
func TestGitDiesWithTheMaster(t *testing.T) {
	if dir := os.Getenv(gitChildEnv); dir != "" {
		// The child: run a git that writes its pid, then waits a minute.
		runGit(context.Background(), time.Minute, dir, "-c", `alias.slow=!echo $PPID > git.pid; sleep 60`, "slow")
		os.Exit(0)
	}
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestGitDiesWithTheMaster$")
	child.Env = append(os.Environ(), gitChildEnv+"="+dir)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer child.Process.Kill() // an error only says it has exited already
	pidFile := filepath.Join(dir, "git.pid")
	var pid int
	testkit.Eventually(t, "git started", func() bool {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		return pid != 0
	})
	defer syscall.Kill(-pid, syscall.SIGKILL) // its sleep
	child.Process.Kill()
	testkit.Eventually(t, fmt.Sprintf("git (pid %d) gone after its master was killed", pid), func() bool {
		// Gone, or a zombie waiting for init to reap it.
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return errors.Is(err, os.ErrNotExist) || (err == nil && strings.Contains(string(stat), ") Z "))
	})
}
