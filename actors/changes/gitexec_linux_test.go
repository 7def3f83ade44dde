package changes

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
	pidFile := filepath.Join(dir, "git.pid")
	deadline := time.Now().Add(30 * time.Second)
	var pid int
	for pid == 0 {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("git never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	child.Process.Kill()
	for {
		// Gone, or a zombie waiting for init to reap it.
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if errors.Is(err, os.ErrNotExist) || (err == nil && strings.Contains(string(stat), ") Z ")) {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("git (pid %d) still runs after its master was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(-pid, syscall.SIGKILL) // its sleep
}
