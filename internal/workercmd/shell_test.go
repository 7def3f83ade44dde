package workercmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		s    Shell
		code int
	}{
		{"argv 0", Shell{Argv: []string{"true"}}, 0},
		{"argv 1", Shell{Argv: []string{"false"}}, 1},
		{"argv 42", Shell{Argv: []string{"sh", "-c", "exit 42"}}, 42},
		{"script 0", Shell{Script: "exit 0"}, 0},
		{"script 1", Shell{Script: "exit 1"}, 1},
		{"script 42", Shell{Script: "echo hi; exit 42"}, 42},
		{"script not found", Shell{Script: "no-such-command-xyzzy"}, 127},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, c := runShell(t, tc.s)
			if res.Err != nil || res.ExitCode != tc.code || res.Signal != "" ||
				res.TimedOut || res.MaxTimeExceeded || res.Interrupted {
				t.Fatalf("result %+v, want exit code %d and nothing else", res, tc.code)
			}
			h := c.get(Header)
			want := "\nelapsedTime="
			if !strings.Contains(h, want) || strings.Contains(h, "program finished") {
				t.Errorf("header %q lacks %q", h, want)
			}
			if res.Elapsed <= 0 {
				t.Errorf("elapsed %v", res.Elapsed)
			}
		})
	}
}

func TestArgvIsNotShellParsed(t *testing.T) {
	t.Parallel()
	res, c := runShell(t, Shell{Argv: []string{"echo", "a  b", "$HOME", "*", "'q'"}})
	if res.ExitCode != 0 {
		t.Fatalf("%+v", res)
	}
	if got, want := c.get(Stdout), "a  b $HOME * 'q'\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	h := c.get(Header)
	if !strings.HasPrefix(h, `echo 'a  b' '$HOME' '*' ''\''q'\'''`+"\n") {
		t.Errorf("header does not start with the quoted command: %q", h)
	}
	if !strings.Contains(h, ` argv: ["echo" "a  b" "$HOME" "*" "'q'"]`) {
		t.Errorf("header lacks argv: %q", h)
	}
}

func TestScriptRunsInShell(t *testing.T) {
	t.Parallel()
	res, c := runShell(t, Shell{Script: "x=$((40+2)); echo $x | tr 4 X"})
	if res.ExitCode != 0 || c.get(Stdout) != "X2\n" {
		t.Fatalf("%+v stdout %q", res, c.get(Stdout))
	}
	if !strings.HasPrefix(c.get(Header), "x=$((40+2)); echo $x | tr 4 X\n in dir ") {
		t.Errorf("header %q", c.get(Header))
	}
}

func TestWorkdir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\necho prog ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "prog")
	missing := filepath.Join(dir, "nope", "deeper")

	for _, tc := range []struct {
		name    string
		s       Shell
		stdout  string
		errText string
		errIs   error
	}{
		{"pwd", Shell{Argv: []string{"pwd", "-P"}, Workdir: dir}, real + "\n", "", nil},
		{"PWD", Shell{Script: `echo "$PWD"`, Workdir: dir}, dir + "\n", "", nil},
		{"relative program", Shell{Argv: []string{"./prog"}, Workdir: dir}, "prog ran\n", "", nil},
		{"missing workdir", Shell{Argv: []string{"true"}, Workdir: missing}, "",
			`workdir "` + missing + `" does not exist`, fs.ErrNotExist},
		{"workdir is a file", Shell{Argv: []string{"true"}, Workdir: file}, "",
			`workdir "` + file + `" is not a directory`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, c := runShell(t, tc.s)
			if tc.errText == "" {
				if res.Err != nil || res.ExitCode != 0 || c.get(Stdout) != tc.stdout {
					t.Fatalf("%+v stdout %q, want %q", res, c.get(Stdout), tc.stdout)
				}
				if !strings.Contains(c.get(Header), " in dir "+dir+"\n") {
					t.Errorf("header %q lacks the dir", c.get(Header))
				}
				return
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.errText) {
				t.Fatalf("err %v, want one saying %q", res.Err, tc.errText)
			}
			if tc.errIs != nil && !errors.Is(res.Err, tc.errIs) {
				t.Errorf("err %v is not %v", res.Err, tc.errIs)
			}
			if res.ExitCode != -1 {
				t.Errorf("exit code %d, want -1", res.ExitCode)
			}
			if !strings.Contains(c.get(Header), tc.errText) {
				t.Errorf("header %q lacks the error", c.get(Header))
			}
		})
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := []string{
		"PATH=" + os.Getenv("PATH"), "KEEP=kept", "DROP=dropped", "OVER=old", "SPACE=a b",
	}
	res, c := runShell(t, Shell{
		Argv:    []string{"env"},
		Workdir: dir,
		BaseEnv: base,
		Env: map[string]string{
			"OVER":  "new",
			"NEW":   "fresh",
			"EXP":   "<${KEEP}|${MISSING}|${DROP}|${SPACE}|$KEEP|${}>",
			"SELF":  "${OVER}:x",
			"EMPTY": "",
		},
		Unset:      []string{"DROP", "NOT_THERE"},
		LogEnviron: true,
	})
	if res.ExitCode != 0 {
		t.Fatalf("%+v %q", res, c.get(Header))
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(c.get(Stdout), "\n"), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	want := map[string]string{
		"PATH":  os.Getenv("PATH"),
		"KEEP":  "kept",
		"OVER":  "new",
		"NEW":   "fresh",
		"SPACE": "a b",
		"EXP":   "<kept||dropped|a b|$KEEP|>",
		"SELF":  "old:x", // expansion sees the worker's value, not Env's
		"EMPTY": "",
		"PWD":   dir,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s=%q (set %v), want %q", k, g, ok, v)
		}
	}
	if v, ok := got["DROP"]; ok {
		t.Errorf("DROP=%q survived Unset", v)
	}
	if len(got) != len(want) {
		t.Errorf("environment %v, want exactly %v", got, want)
	}
	if h := c.get(Header); !strings.Contains(h, " environment:\n") || !strings.Contains(h, "\n  OVER=new\n") {
		t.Errorf("LogEnviron header %q", h)
	}
}

func TestEnvWorkerDefault(t *testing.T) {
	// nil BaseEnv is the worker's own environment.
	t.Setenv("WORKERCMD_TEST_VAR", "from-worker")
	res, c := runShell(t, Shell{Script: `echo "$WORKERCMD_TEST_VAR $X"`, Env: map[string]string{"X": "${WORKERCMD_TEST_VAR}!"}})
	if res.ExitCode != 0 || c.get(Stdout) != "from-worker from-worker!\n" {
		t.Fatalf("%+v stdout %q", res, c.get(Stdout))
	}
	if strings.Contains(c.get(Header), "environment:") {
		t.Errorf("environment logged without LogEnviron: %q", c.get(Header))
	}
}

func TestBadShell(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		s    Shell
		want string
	}{
		{"nothing", Shell{}, "no command"},
		{"both", Shell{Argv: []string{"true"}, Script: "true"}, "both Argv and Script"},
		{"bad env name", Shell{Argv: []string{"true"}, Env: map[string]string{"A=B": "x"}}, `invalid variable name "A=B"`},
		{"bad unset name", Shell{Argv: []string{"true"}, Unset: []string{""}}, `invalid variable name ""`},
		{"NUL in env", Shell{Argv: []string{"true"}, Env: map[string]string{"A": "x\x00y"}}, "NUL"},
		{"NUL in base env", Shell{Argv: []string{"true"}, BaseEnv: []string{"PATH=" + os.Getenv("PATH"), "A=x\x00y"}}, "NUL"},
		{"NUL in base env name", Shell{Argv: []string{"true"}, BaseEnv: []string{"PATH=" + os.Getenv("PATH"), "A\x00B=y"}}, "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, _ := runShell(t, tc.s)
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) || res.ExitCode != -1 {
				t.Fatalf("%+v, want an error saying %q", res, tc.want)
			}
		})
	}
}

func TestCommandNotFound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		argv  []string
		env   []string
		want  string
		errIs error
	}{
		{"not in PATH", []string{"no-such-command-xyzzy"}, nil, `command not found: "no-such-command-xyzzy" is not in PATH`, exec.ErrNotFound},
		{"empty PATH", []string{"true"}, []string{"PATH="}, `command not found: "true"`, exec.ErrNotFound},
		{"missing relative", []string{"./missing"}, nil, `command "./missing"`, fs.ErrNotExist},
		{"not executable", []string{"./noexec"}, nil, `command "./noexec"`, fs.ErrPermission},
		{"directory", []string{"./"}, nil, `command "./"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, c := runShell(t, Shell{Argv: tc.argv, Workdir: dir, BaseEnv: tc.env})
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("%+v, want an error saying %q", res, tc.want)
			}
			if tc.errIs != nil && !errors.Is(res.Err, tc.errIs) {
				t.Errorf("%v is not %v", res.Err, tc.errIs)
			}
			if res.ExitCode != -1 || !strings.Contains(c.get(Header), tc.want) {
				t.Errorf("%+v header %q", res, c.get(Header))
			}
		})
	}
}

func TestPathFromCommandEnv(t *testing.T) {
	t.Parallel()
	// argv[0] is looked up in the command's PATH, not the worker's; a
	// relative PATH entry is relative to the workdir.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "mytool"), []byte("#!/bin/sh\necho mytool $1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, c := runShell(t, Shell{
		Argv: []string{"mytool", "x"}, Workdir: dir,
		Env: map[string]string{"PATH": "bin:${PATH}"},
	})
	if res.Err != nil || res.ExitCode != 0 || c.get(Stdout) != "mytool x\n" {
		t.Fatalf("%+v stdout %q", res, c.get(Stdout))
	}
}

func TestStdoutStderrSeparated(t *testing.T) {
	t.Parallel()
	res, c := runShell(t, Shell{Script: "o=out e=err; echo ${o}1; echo ${e}1 >&2; printf ${o}2; printf ${e}2 >&2"})
	if res.ExitCode != 0 {
		t.Fatal(res)
	}
	if got := c.get(Stdout); got != "out1\nout2" {
		t.Errorf("stdout %q", got)
	}
	if got := c.get(Stderr); got != "err1\nerr2" {
		t.Errorf("stderr %q", got)
	}
	if h := c.get(Header); strings.Contains(h, "out1") || strings.Contains(h, "err1") {
		t.Errorf("header %q has output", h)
	}
}

func TestOutputStreamsWhileRunning(t *testing.T) {
	t.Parallel()
	// The command prints a line and then blocks on a fifo that the test
	// opens only once it has seen the line: had RunShell held the output
	// back until the end, this would never finish. (One fifo per step: a
	// reader reopening a fifo may still meet the previous writer.)
	dir := t.TempDir()
	for _, name := range []string{"fifo1", "fifo2"} {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := start(t, Shell{Script: `echo started; read x < fifo1; echo "got $x"; echo partial-err >&2; read y < fifo2; echo "got $y"`, Workdir: dir})
	feed := func(fifo, line string) {
		t.Helper()
		if err := writeFifo(filepath.Join(dir, fifo), line+"\n"); err != nil {
			t.Fatalf("%v; stdout %q stderr %q header %q", err, r.cap.get(Stdout), r.cap.get(Stderr), r.cap.get(Header))
		}
	}

	r.cap.waitFor(t, Stdout, "started\n")
	feed("fifo1", "one")
	r.cap.waitFor(t, Stdout, "got one\n")
	r.cap.waitFor(t, Stderr, "partial-err\n")
	feed("fifo2", "two")
	res := r.wait(t)
	if res.ExitCode != 0 || r.cap.get(Stdout) != "started\ngot one\ngot two\n" {
		t.Fatalf("%+v stdout %q", res, r.cap.get(Stdout))
	}
}

func TestPartialLineIsFlushed(t *testing.T) {
	t.Parallel()
	// A prompt without a newline still arrives while the command waits.
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, Shell{Script: `printf 'Password: '; read x < fifo; echo ok`, Workdir: dir})
	r.cap.waitFor(t, Stdout, "Password: ")
	if err := writeFifo(fifo, "x\n"); err != nil {
		t.Fatal(err)
	}
	if res := r.wait(t); res.ExitCode != 0 || r.cap.get(Stdout) != "Password: ok\n" {
		t.Fatalf("%+v %q", res, r.cap.get(Stdout))
	}
}

func TestNoOutputTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	// The pid goes to a file (see TestBackgroundHoldingOutputKeepsCommandRunning).
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := start(t, Shell{Script: "echo $$ > " + pidFile + "; sleep 1000 & sleep 1000", Timeout: 300 * time.Millisecond})
	res := r.wait(t)
	if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
		requireGroupGone(t, firstInts(t, string(b))[0])
	}
	if !res.TimedOut || res.MaxTimeExceeded || res.Interrupted || res.ExitCode != -1 || res.Signal != "SIGKILL" || res.Err != nil {
		t.Fatalf("%+v", res)
	}
	h := r.cap.get(Header)
	for _, want := range []string{
		" in dir ", " (timeout 0.3 secs)\n",
		"\ncommand timed out: 0.3 seconds without output running echo $$",
		", attempting to kill\n",
		"process killed by signal 9\nelapsedTime=",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("header %q lacks %q", h, want)
		}
	}
}

func TestOutputResetsTimeout(t *testing.T) {
	t.Parallel()
	// 60 lines 0.1 s apart take at least 6 s, more than the timeout: only
	// the output resetting it lets the command finish. The timeout is long
	// enough that no gap between two lines comes near it even on a loaded
	// machine (1.5 s did, under -race).
	res, c := runShell(t, Shell{
		Script:  "i=0; while [ $i -lt 60 ]; do echo $i; sleep 0.1; i=$((i+1)); done",
		Timeout: 5 * time.Second,
	})
	if res.TimedOut || res.ExitCode != 0 {
		t.Fatalf("%+v %q", res, c.get(Header))
	}
	if n := strings.Count(c.get(Stdout), "\n"); n != 60 {
		t.Errorf("%d lines", n)
	}
}

func TestMaxTimeKillsBusyCommand(t *testing.T) {
	t.Parallel()
	r := start(t, Shell{
		Script:  "echo $$; while :; do echo tick; sleep 0.02; done",
		Timeout: time.Minute, MaxTime: 500 * time.Millisecond,
	})
	pgid := firstInts(t, r.cap.waitFor(t, Stdout, "\n"))[0]
	res := r.wait(t)
	requireGroupGone(t, pgid)
	if !res.MaxTimeExceeded || res.TimedOut || res.Interrupted || res.ExitCode != -1 || res.Signal != "SIGKILL" {
		t.Fatalf("%+v", res)
	}
	h := r.cap.get(Header)
	for _, want := range []string{
		" (timeout 60 secs) (maxTime 0.5 secs)\n",
		"\ncommand timed out: 0.5 seconds elapsed running echo $$; while",
		", attempting to kill\n",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("header %q lacks %q", h, want)
		}
	}
	if !strings.Contains(r.cap.get(Stdout), "tick\n") {
		t.Errorf("no output before the kill")
	}
}

func TestInterruptKillsWholeGroup(t *testing.T) {
	t.Parallel()
	r := start(t, Shell{Script: `sleep 1000 & echo "$$ $!"; sleep 1000`})
	ids := firstInts(t, r.cap.waitFor(t, Stdout, "\n"))
	pgid, grandchild := ids[0], ids[1]
	if !alive(grandchild) {
		t.Fatalf("background sleep %d is not running", grandchild)
	}
	r.cancel()
	res := r.wait(t)
	requireGroupGone(t, pgid)
	if alive(grandchild) {
		t.Errorf("background sleep %d survived", grandchild)
	}
	if err := syscall.Kill(-pgid, 0); err != nil && err != syscall.ESRCH {
		t.Errorf("kill(-%d, 0): %v", pgid, err)
	}
	if !res.Interrupted || res.TimedOut || res.ExitCode != -1 || res.Signal != "SIGKILL" || res.Err != nil {
		t.Fatalf("%+v", res)
	}
	if h := r.cap.get(Header); !strings.Contains(h, "\ncommand interrupted, attempting to kill\n") {
		t.Errorf("header %q", h)
	}
}

func TestInterruptBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	res := RunShell(ctx, Shell{Argv: []string{"touch", "ran"}, Workdir: dir}, nil)
	if !res.Interrupted || res.Err == nil || res.ExitCode != -1 || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("%+v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Errorf("the command ran")
	}
}

func TestSigtermGrace(t *testing.T) {
	t.Parallel()
	t.Run("trapped TERM gets to print", func(t *testing.T) {
		t.Parallel()
		// The trap exits 0; a killed command must still not look successful.
		// RunShell must not wait for the whole grace (an hour: r.wait's
		// deadline would fail the test first).
		r := start(t, Shell{
			Script:       `trap 'echo got TERM; exit 0' TERM; echo $$; sleep 1000 & wait`,
			SigtermGrace: time.Hour,
		})
		pgid := firstInts(t, r.cap.waitFor(t, Stdout, "\n"))[0]
		r.cancel()
		res := r.wait(t)
		requireGroupGone(t, pgid)
		if !strings.Contains(r.cap.get(Stdout), "got TERM\n") {
			t.Errorf("stdout %q: the trap did not print", r.cap.get(Stdout))
		}
		if !res.Interrupted || res.Signal != "" || res.ExitCode != -1 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("ignored TERM gets KILL", func(t *testing.T) {
		t.Parallel()
		r := start(t, Shell{
			Script:       `trap '' TERM; echo $$; sleep 1000 & sleep 1000`,
			SigtermGrace: 200 * time.Millisecond,
		})
		pgid := firstInts(t, r.cap.waitFor(t, Stdout, "\n"))[0]
		r.cancel()
		res := r.wait(t)
		requireGroupGone(t, pgid)
		if !res.Interrupted || res.Signal != "SIGKILL" || res.ExitCode != -1 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("survivor without output is killed", func(t *testing.T) {
		t.Parallel()
		// The leader dies of TERM; a member that ignores TERM and holds
		// no output pipe must not outlive the command.
		r := start(t, Shell{
			Script:       `(trap '' TERM; exec sleep 1000) >/dev/null 2>&1 & echo "$$ $!"; sleep 1000`,
			SigtermGrace: time.Hour, // not waited for: r.wait's deadline is shorter
		})
		ids := firstInts(t, r.cap.waitFor(t, Stdout, "\n"))
		r.cancel()
		res := r.wait(t)
		requireGroupGone(t, ids[0])
		if alive(ids[1]) {
			t.Errorf("TERM-ignoring member %d survived", ids[1])
		}
		if !res.Interrupted || res.Signal != "SIGTERM" {
			t.Fatalf("%+v", res)
		}
	})
}

func TestKilledBySignal(t *testing.T) {
	t.Parallel()
	res, c := runShell(t, Shell{Script: "kill -9 $$"})
	if res.ExitCode != -1 || res.Signal != "SIGKILL" || res.Err != nil || res.Interrupted {
		t.Fatalf("%+v", res)
	}
	if h := c.get(Header); !strings.Contains(h, "process killed by signal 9\nelapsedTime=") {
		t.Errorf("header %q", h)
	}
}

func TestHugeOutput(t *testing.T) {
	t.Parallel()
	t.Run("lines", func(t *testing.T) {
		t.Parallel()
		// About 2 MB: 32 times the chunk size and the pipe's buffer, every
		// byte checked. (20 MB took over a minute under -race on a loaded
		// machine and proved nothing more.)
		const n = 300_000
		var want bytes.Buffer
		for i := 1; i <= n; i++ {
			want.WriteString(strconv.Itoa(i))
			want.WriteByte('\n')
		}
		res, c := runShell(t, Shell{Argv: []string{"seq", "1", strconv.Itoa(n)}})
		if res.ExitCode != 0 {
			t.Fatal(res)
		}
		if got := c.get(Stdout); got != want.String() {
			t.Fatalf("stdout differs: %d bytes, want %d", len(got), want.Len())
		}
		checkChunks(t, c, DefaultMaxChunk)
	})
	t.Run("no newlines, small chunks", func(t *testing.T) {
		t.Parallel()
		res, c := runShell(t, Shell{Script: "head -c 3000000 /dev/zero | tr '\\0' x >&2", MaxChunk: 1000})
		if res.ExitCode != 0 {
			t.Fatal(res)
		}
		if got := c.get(Stderr); got != strings.Repeat("x", 3_000_000) {
			t.Fatalf("stderr differs: %d bytes", len(got))
		}
		checkChunks(t, c, 1000)
	})
}

func checkChunks(t *testing.T, c *capture, max int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.chunks {
		if ch.n == 0 || ch.n > max {
			t.Fatalf("%s chunk of %d bytes, want 1..%d", ch.s, ch.n, max)
		}
	}
}

func TestBackgroundHoldingOutputKeepsCommandRunning(t *testing.T) {
	t.Parallel()
	// The leader exits at once, but its child keeps stdout open: the
	// command is not over until the output is closed (here by the
	// no-output timeout killing the group), as in Buildbot. The shell's pid
	// goes to a file, not to stdout: under load the timeout can fire before
	// the shell runs at all, and the test must not wait for output then.
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := start(t, Shell{Script: "echo $$ > " + pidFile + "; sleep 1000 &", Timeout: 300 * time.Millisecond})
	res := r.wait(t)
	if !res.TimedOut || res.ExitCode != -1 {
		t.Fatalf("%+v", res)
	}
	if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
		requireGroupGone(t, firstInts(t, string(b))[0])
	}
}

func TestEscapedProcessDoesNotHangCommand(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	// A process that left the group (setsid) holds stdout; after the kill
	// RunShell stops waiting for it after backupTimeout. It says so once
	// it has left (the kill must not come before its setsid).
	r := start(t, Shell{Script: `setsid sh -c 'echo "escaped $$"; exec sleep 1000' & echo "shell $$"; sleep 1000`})
	var shell, escaped int
	testkit.Retry(t, func() error {
		out := r.cap.get(Stdout)
		sm, em := regexp.MustCompile(`shell (\d+)\n`).FindStringSubmatch(out), regexp.MustCompile(`escaped (\d+)\n`).FindStringSubmatch(out)
		if sm == nil || em == nil {
			return fmt.Errorf("stdout %q lacks the shell's and the escaped process's pids", out)
		}
		shell, _ = strconv.Atoi(sm[1])
		escaped, _ = strconv.Atoi(em[1])
		return nil
	})
	t.Cleanup(func() { syscall.Kill(escaped, syscall.SIGKILL) })
	r.cancel()
	res := r.wait(t)
	requireGroupGone(t, shell)
	if !res.Interrupted || res.ExitCode != -1 || res.Err != nil {
		t.Fatalf("%+v", res)
	}
	if h := r.cap.get(Header); !strings.Contains(h, "output still open after the process group was killed") {
		t.Errorf("header %q", h)
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"make", "-j4", "all"}, "make -j4 all"},
		{[]string{"echo", ""}, "echo ''"},
		{[]string{"echo", "a b"}, "echo 'a b'"},
		{[]string{"echo", "it's"}, `echo 'it'\''s'`},
		{[]string{"/usr/bin/env", "A=b,c:d@e%f+g"}, "/usr/bin/env A=b,c:d@e%f+g"},
	} {
		if got := shellQuote(tc.argv); got != tc.want {
			t.Errorf("shellQuote(%q) = %q, want %q", tc.argv, got, tc.want)
		}
	}
}
