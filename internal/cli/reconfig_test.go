package cli

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

// stuckMasterEnv names the config file TestStuckMasterChild runs a master on.
const stuckMasterEnv = "BUILDMASTER_TEST_STUCK_MASTER_CONFIG"

const stuckMasterToken = "cli-test-token"

// TestStuckMasterChild is the master of the reconfig tests, in a process of
// its own, as a user runs one. Its reconfigurations time
// out after 1s, and its master/user_manager is stuck (its mailbox is
// suspended) until a line "resume" comes on stdin. It prints its remote
// address, then "resumed"; it stops when stdin closes.
func TestStuckMasterChild(t *testing.T) {
	path := os.Getenv(stuckMasterEnv)
	if path == "" {
		t.Skip("the master of the reconfig tests")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, data)
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.Start(master.Options{Config: cfg, ConfigPath: path, Token: stuckMasterToken, Ephemeral: true,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), AckTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop(10 * time.Second)
	pid := m.RT.System.NewLocalPID("master/user_manager")
	proc, ok := m.RT.System.ProcessRegistry.Get(pid)
	if !ok {
		t.Fatal("no master/user_manager")
	}
	proc.SendSystemMessage(pid, &actor.SuspendMailbox{})
	fmt.Println(m.RemoteAddr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "resume" {
			proc.SendSystemMessage(pid, &actor.ResumeMailbox{})
			fmt.Println("resumed")
		}
	}
}

// cliChildEnv makes TestCLIChild run the command with the test binary's
// arguments after "--".
const cliChildEnv = "BUILDMASTER_TEST_CLI_CHILD"

// TestCLIChild runs the buildmaster command, as the binary does; it only
// runs as a child of runCLI.
func TestCLIChild(t *testing.T) {
	if os.Getenv(cliChildEnv) == "" {
		t.Skip("the command line of the other tests")
	}
	os.Exit(Main(flag.Args(), os.Stdout, os.Stderr))
}

// runCLI runs the buildmaster command with args in a child process, as a
// user runs it, returning its output and exit status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestCLIChild$", "-test.count=1", "--"}, args...)...)
	cmd.Env = append(os.Environ(), cliChildEnv+"=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// A reconfig that some service does not acknowledge in time is applied, but
// the command says so on stderr, naming the service and the timeout, and
// exits ExitIncomplete; the same reconfig run again, once the service
// answers, is a new run and exits 0.
func TestReconfigWarnsAndExitsIncompleteWhenServicesDoNotAcknowledge(t *testing.T) {
	dir := t.TempDir()
	// Port 0: the child master binds once and prints its remote address.
	listen := "listen: {remote: 127.0.0.1:0, debug: 127.0.0.1:0, www: 127.0.0.1:0, workers: 127.0.0.1:0, workers_pb: 127.0.0.1:0}\n"
	body := "workers: [{name: w1}]\nbuilders: [{name: b1, workers: [w1], steps: [{shell: {command: [true]}}]}]\n"
	oldCfg, newCfg := filepath.Join(dir, "old.yaml"), filepath.Join(dir, "new.yaml")
	for path, text := range map[string]string{oldCfg: listen + body, newCfg: listen + strings.Replace(body, "[true]", "[make, test]", 1)} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	child := exec.Command(os.Args[0], "-test.run=^TestStuckMasterChild$", "-test.count=1")
	child.Env = append(os.Environ(), stuckMasterEnv+"="+oldCfg)
	childLog := &syncBuffer{}
	child.Stderr = childLog
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- child.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("master: %v\n%s", err, childLog.String())
			}
		case <-time.After(testkit.DefaultTimeout):
			child.Process.Kill()
			t.Errorf("master did not stop")
		}
	})
	lines := make(chan string, 10)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if ok {
				return l
			}
		case <-time.After(testkit.DefaultTimeout):
		}
		t.Fatalf("master: no %s\n%s", what, childLog.String())
		return ""
	}
	addr := next("remote address")

	reconfig := func() (string, string, int) {
		return runCLI(t, "reconfig", "--master", addr, "--token", stuckMasterToken, "--config", newCfg, "--timeout", "20s")
	}
	out, errOut, code := reconfig()
	if code != ExitIncomplete {
		t.Fatalf("exit %d, want %d (ExitIncomplete)\nstdout:\n%sstderr:\n%s", code, ExitIncomplete, out, errOut)
	}
	if !strings.Contains(out, "reconfigured: generation 2, 1 change") || !strings.Contains(out, "changed  master/botmaster/builder:b1") ||
		strings.Contains(out, "warning") {
		t.Errorf("stdout:\n%s", out)
	}
	warnings := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0],
		"buildmaster: warning: 1 of 10 services did not acknowledge generation 2 within the 1s timeout: master/user_manager;") {
		t.Errorf("stderr:\n%s", errOut)
	}

	fmt.Fprintln(stdin, "resume")
	if l := next("resumed"); l != "resumed" {
		t.Fatalf("master said %q", l)
	}
	out, errOut, code = reconfig()
	if code != ExitOK || errOut != "" || !strings.Contains(out, "reconfigured: generation 3, 0 changes") {
		t.Fatalf("retry once the service answers: exit %d\nstdout:\n%sstderr:\n%s", code, out, errOut)
	}
}

// syncBuffer is a bytes.Buffer that a child process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
