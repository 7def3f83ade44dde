package cli

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/control"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// goneEvery is how often `stop` looks whether the master has gone away.
const goneEvery = 100 * time.Millisecond

// newStop is `buildmaster stop [--clean|--cancel]`: Buildbot's `buildbot
// stop`, over the control endpoint rather than a signal; and `buildmaster stop
// BUILD`, which stops one build.
func newStop() *cobra.Command {
	o := &clientOptions{}
	var clean, cancel, noWait bool
	var reason string
	cmd := &cobra.Command{
		Use:   "stop [--clean | --cancel] [--no-wait] | stop BUILD [--reason R]",
		Short: "Stop the master now (gracefully), cleanly once its running builds finish (--clean), cancel a clean stop (--cancel); or stop one BUILD",
		Long: "stop stops the master gracefully now, as SIGTERM does: running builds end as RETRY and run again\n" +
			"after the next start. --clean (or SIGUSR1) starts Buildbot's clean shutdown: no new build starts\n" +
			"(requests stay queued for the next start), running builds finish, then the master stops.\n" +
			"--cancel (or a second SIGUSR1) cancels it. Without --no-wait, stop waits until the master has gone\n" +
			"away: for --timeout, or for as long as it takes with --clean.\n" +
			"stop BUILD stops one running build instead (BUILD is its id, or BUILDER/NUMBER): its current step\n" +
			"is interrupted and the build ends CANCELLED.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if clean || cancel || noWait {
					return &ExitError{Code: ExitRejected, Err: errors.New("stop BUILD: --clean, --cancel and --no-wait stop the master, not a build")}
				}
				b, err := parseBuild("stop", args[0])
				if err != nil {
					return err
				}
				return stopBuild(cmd, o, b, reason)
			}
			if reason != "" {
				return &ExitError{Code: ExitRejected, Err: errors.New("stop: --reason is for stopping a build: stop BUILD --reason R")}
			}
			if clean && cancel {
				return &ExitError{Code: ExitRejected, Err: errors.New("stop: --clean and --cancel exclude each other")}
			}
			mode := messages.StopMode_STOP_MODE_NOW
			switch {
			case clean:
				mode = messages.StopMode_STOP_MODE_CLEAN
			case cancel:
				mode = messages.StopMode_STOP_MODE_CANCEL
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			res, err := request[*messages.StopMasterResponse](c, paths.Master, &messages.StopMasterRequest{Token: c.token, Mode: mode}, o.timeout)
			out := cmd.OutOrStdout()
			switch {
			case err != nil && !(errors.Is(err, control.ErrLost) && mode != messages.StopMode_STOP_MODE_CANCEL):
				return err
			case err != nil: // the master went away before it answered: it may be stopping
			case mode == messages.StopMode_STOP_MODE_CANCEL && res.GetUnchanged():
				fmt.Fprintln(out, "no clean shutdown was under way")
			case mode == messages.StopMode_STOP_MODE_CANCEL:
				fmt.Fprintln(out, "clean shutdown cancelled: builds start again")
			case mode == messages.StopMode_STOP_MODE_CLEAN:
				already := ""
				if res.GetUnchanged() {
					already = " (already)"
				}
				fmt.Fprintf(out, "clean shutdown under way%s: no new build starts; %d running; the master stops once they finish\n",
					already, res.GetRunningBuilds())
			default:
				fmt.Fprintf(out, "stopping the master at %s\n", o.master)
			}
			if mode == messages.StopMode_STOP_MODE_CANCEL || noWait {
				return nil
			}
			var deadline time.Time
			if !clean {
				deadline = time.Now().Add(o.timeout)
			}
			if !waitGone(o.master, deadline) {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("the master at %s did not go away within %s", o.master, o.timeout)}
			}
			fmt.Fprintln(out, "the master has stopped")
			return nil
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.BoolVar(&clean, "clean", false, "clean shutdown: start no new build, stop once the running builds finish")
	f.BoolVar(&cancel, "cancel", false, "cancel a clean shutdown under way: builds start again")
	f.BoolVar(&noWait, "no-wait", false, "return once the master has the request, without waiting for it to go away")
	f.StringVar(&reason, "reason", "", "stop BUILD: why the build is stopped")
	return cmd
}

// waitGone waits until nothing accepts connections at addr any more (the
// master has stopped), until deadline (zero: for ever). It reports whether
// the master went away.
func waitGone(addr string, deadline time.Time) bool {
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		conn.Close()
		if !deadline.IsZero() && time.Now().After(deadline) {
			return false
		}
		time.Sleep(goneEvery)
	}
}
