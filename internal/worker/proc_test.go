package worker

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The worker under test runs in a child process (this test binary run as
// TestWorkerChild, through the CLI), so that its exit codes, signals and
// output are the real command's.

const (
	workerEnv        = "BUILDWORKER_TEST_WORKER"  // JSON list of CLI arguments
	workerBackoffEnv = "BUILDWORKER_TEST_BACKOFF" // delays by failure count, e.g. "100ms,200ms"
)

// TestWorkerChild runs buildworker; it only runs as a child of a test.
func TestWorkerChild(t *testing.T) {
	raw := os.Getenv(workerEnv)
	if raw == "" {
		t.Skip("the worker of the other tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		panic(err)
	}
	var delays []time.Duration
	for _, s := range strings.Split(os.Getenv(workerBackoffEnv), ",") {
		if d, err := time.ParseDuration(s); err == nil {
			delays = append(delays, d)
		}
	}
	tweak := func(o *Options) {
		if len(delays) > 0 {
			o.Backoff = func(n int) time.Duration { return delays[min(n, len(delays))-1] }
		}
	}
	os.Exit(mainWith(args, os.Stdout, os.Stderr, tweak))
}

// logLine is one line of the worker's JSON log.
type logLine struct {
	raw   string
	level string
	msg   string
	attrs map[string]any
}

// workerProc is the test's handle on a worker child.
type workerProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *eventLog[string]
	logs   *eventLog[logLine]
	exited chan struct{}
	code   int
}

// startWorker runs buildworker with args (plus JSON debug logging), the
// back-off delays given, and env added to its environment.
func startWorker(t *testing.T, args []string, backoff string, env ...string) *workerProc {
	t.Helper()
	return startWorkerIgnoring(t, "", args, backoff, env...)
}

// startWorkerIgnoring is startWorker with the worker started with the
// signals in ignore (as sh's trap names them, e.g. "HUP INT") ignored.
func startWorkerIgnoring(t *testing.T, ignore string, args []string, backoff string, env ...string) *workerProc {
	t.Helper()
	args = append(args, "--log-format", "json", "--log-level", "debug")
	b, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerChild$", "-test.count=1")
	if ignore != "" {
		cmd = exec.Command("/bin/sh", append([]string{"-c", `trap '' ` + ignore + `; exec "$@"`, "sh"}, cmd.Args...)...)
	}
	cmd.Env = append(append(os.Environ(), workerEnv+"="+string(b), workerBackoffEnv+"="+backoff), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{t: t, cmd: cmd, stdout: newEventLog[string](), logs: newEventLog[logLine](), exited: make(chan struct{})}
	readers := make(chan struct{}, 2)
	go func() {
		lines(stdout, w.stdout.add)
		readers <- struct{}{}
	}()
	go func() {
		lines(stderr, func(s string) {
			l := logLine{raw: s}
			var m map[string]any
			if json.Unmarshal([]byte(s), &m) == nil {
				l.level, _ = m["level"].(string)
				l.msg, _ = m["msg"].(string)
				l.attrs = m
			}
			if strings.Contains(s, "DATA RACE") {
				t.Errorf("worker: %s", s)
			}
			w.logs.add(l)
		})
		readers <- struct{}{}
	}()
	go func() {
		<-readers
		<-readers
		cmd.Wait()
		w.code = cmd.ProcessState.ExitCode()
		w.stdout.close()
		w.logs.close()
		close(w.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-w.exited
		if t.Failed() || testing.Verbose() {
			for _, l := range w.logs.all() {
				t.Log("worker: " + l.raw)
			}
		}
	})
	return w
}

func lines(r io.Reader, add func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		add(sc.Text())
	}
}

// connected waits for the n-th "connected" line on stdout.
func (w *workerProc) connected(n int) {
	w.t.Helper()
	seen := 0
	w.stdout.wait(w.t, "the worker's connected line", 0, 30*time.Second, func(s string) bool {
		if strings.HasPrefix(s, "buildworker ") && strings.Contains(s, " connected to ") {
			seen++
		}
		return seen == n
	})
}

// wait waits for the worker to exit and returns its exit code.
func (w *workerProc) wait(timeout time.Duration) int {
	w.t.Helper()
	select {
	case <-w.exited:
		return w.code
	case <-time.After(timeout):
		w.t.Fatalf("the worker did not exit within %s", timeout)
		return -1
	}
}

func (w *workerProc) signal(s os.Signal) { w.cmd.Process.Signal(s) }
