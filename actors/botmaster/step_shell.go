package botmaster

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/messages"
)

// DefaultTimeout is a shell step's timeout without output when it sets
// none, as in Buildbot.
const DefaultTimeout = 1200 * time.Second

// shell runs a shell step on the worker: its command or script, with the
// builder's and the step's environment, properties and secrets
// interpolated (render).
func (r *runner) shell(log *stepLog, s *messages.ShellStep) (int32, error) {
	rd := &renderer{r: r}
	sh := &messages.ShellCommand{Script: rd.s(s.GetScript()), Workdir: r.workdir(s.GetWorkdir()),
		Env: map[string]string{}, Timeout: s.GetTimeout(), MaxTime: s.GetMaxTime()}
	for _, a := range s.GetCommand() {
		sh.Argv = append(sh.Argv, rd.s(a))
	}
	for k, v := range r.cfg.GetEnv() {
		sh.Env[k] = rd.s(v)
	}
	for k, v := range s.GetEnv() {
		sh.Env[k] = rd.s(v)
	}
	if rd.err != nil {
		return r.cannotRender(log, rd.err)
	}
	if sh.Timeout == nil {
		sh.Timeout = durationpb.New(DefaultTimeout)
	}
	c, _, err := r.command(log, &messages.StartCommand{Command: &messages.StartCommand_Shell{Shell: sh}})
	if err != nil {
		return 0, err
	}
	return commandResults(c, s.GetDecodeRc()), nil
}

// quote quotes s for /bin/sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
