package worker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
)

// keepIgnoring makes the worker go on ignoring each signal it was started
// with ignored (SIGHUP under nohup; SIGINT in the background of a
// non-interactive shell, which ignores SIGQUIT too, but Go's runtime always
// handles SIGQUIT itself), while the commands it starts get every
// signal but SIGTTIN and SIGTTOU (below) at its default disposition, as
// Buildbot's worker gives them: a build's processes behave the same
// however the worker was started.
//
// An ignored signal stays ignored across exec. Go's runtime keeps an
// inherited SIG_IGN for SIGHUP and SIGINT and never touches SIGTSTP,
// SIGTTIN and SIGTTOU, and a child started by syscall.StartProcess has
// only the signals the runtime handles reset to SIG_DFL. keepIgnoring hands
// each ignored signal to a channel that nobody reads: the runtime then
// handles it (and drops it, so the worker still survives it), and resets
// it in every child. It reads the ignored set from /proc/self/status.
// Call it once, before the worker installs its own signal handling.
//
// SIGTTIN and SIGTTOU stay ignored, in the worker and its commands: the
// kernel lets a background process that ignores them read (EIO) or write
// (with stty tostop) its terminal, but signals one that handles them and
// restarts the call, for ever (a worker writing its log to the terminal
// would spin). A command that ignores them fails or writes instead of
// stopping, which also spares its build a hang.
func keepIgnoring() error {
	ignored, err := ignoredSignals()
	if err != nil {
		return err
	}
	ignored = slices.DeleteFunc(ignored, func(s os.Signal) bool { return s == syscall.SIGTTIN || s == syscall.SIGTTOU })
	if len(ignored) > 0 {
		signal.Notify(make(chan os.Signal, 1), ignored...)
	}
	return nil
}

// ignoredSignals returns the signals this process ignores (SigIgn in
// /proc/self/status).
func ignoredSignals() ([]os.Signal, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("ignored signals: %w", err)
	}
	for line := range bytes.Lines(b) {
		hex, ok := bytes.CutPrefix(line, []byte("SigIgn:"))
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(string(bytes.TrimSpace(hex)), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("ignored signals: SigIgn in /proc/self/status: %w", err)
		}
		var sigs []os.Signal
		for n := 1; n <= 64; n++ {
			if mask&(1<<(n-1)) != 0 {
				sigs = append(sigs, syscall.Signal(n))
			}
		}
		return sigs, nil
	}
	return nil, errors.New("ignored signals: no SigIgn in /proc/self/status")
}
