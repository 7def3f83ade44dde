package changes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"
)

// maxStderr bounds how much of git's stderr an error quotes.
const maxStderr = 2 << 10

// gitError is a git command that failed: what ran, how, and what git said.
type gitError struct {
	args   []string // redacted
	err    error
	stderr string
}

func (e *gitError) Error() string {
	msg := fmt.Sprintf("git %s: %v", strings.Join(e.args, " "), e.err)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *gitError) Unwrap() error { return e.err }

// runGit runs git with args in dir, bounded by timeout and by ctx (whose
// end kills git and whatever it started), with no terminal prompts and no
// shell, and returns its standard output.
func runGit(ctx context.Context, timeout time.Duration, dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "core.quotepath=off"}, args...)...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	killGroup(cmd)
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s", timeout)
		} else if ctx.Err() != nil {
			err = ctx.Err()
		}
		red := make([]string, len(args))
		for i, a := range args {
			red[i] = redactURL(a)
		}
		msg := strings.TrimSpace(strings.ToValidUTF8(stderr.String(), "\uFFFD"))
		if len(msg) > maxStderr {
			msg = clip(msg, maxStderr) + "…"
		}
		return nil, &gitError{args: red, err: err, stderr: redactText(msg)}
	}
	return stdout.Bytes(), nil
}

// gitEnv is the environment git runs in: the master's, without what would
// point git at another repository, with prompts off and messages in English.
func gitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
			"GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_TERMINAL_PROMPT", "LC_ALL", "LANGUAGE":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "LANGUAGE=C")
	if os.Getenv("GIT_SSH_COMMAND") == "" && os.Getenv("GIT_SSH") == "" {
		env = append(env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	return env
}

// redactURL hides the password of a URL with user information; anything
// else is returned as is.
func redactURL(s string) string {
	if u := withPassword(s); u != nil {
		return u.Redacted()
	}
	return s
}

// withoutPassword is s with any password in it removed (the user kept): a
// change records the repository without the credentials used to poll it.
func withoutPassword(s string) string {
	if u := withPassword(s); u != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return s
}

// withPassword parses s when it is a URL holding a password, or returns nil.
func withPassword(s string) *url.URL {
	if !strings.Contains(s, "://") {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return nil
	}
	if _, has := u.User.Password(); !has {
		return nil
	}
	return u
}

// redactText redacts every URL-looking word of git's messages.
func redactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	words := strings.Fields(s)
	for _, w := range words {
		w = strings.Trim(w, `'"`)
		if r := redactURL(w); r != w {
			s = strings.ReplaceAll(s, w, r)
		}
	}
	return s
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
