package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// newWorker is `buildmaster worker ACTION NAME`: Buildbot's worker control
// actions.
func newWorker() *cobra.Command {
	o := &clientOptions{}
	actions := map[string]messages.WorkerAction{
		"pause":   messages.WorkerAction_WORKER_ACTION_PAUSE,
		"unpause": messages.WorkerAction_WORKER_ACTION_UNPAUSE,
		"stop":    messages.WorkerAction_WORKER_ACTION_STOP,
		"kill":    messages.WorkerAction_WORKER_ACTION_KILL,
	}
	cmd := &cobra.Command{
		Use:   "worker pause|unpause|stop|kill NAME",
		Short: "Pause a worker (no new builds), unpause it, stop it once its builds end, or disconnect it now",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			action, ok := actions[args[0]]
			if !ok {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("worker: %q is not pause, unpause, stop or kill", args[0])}
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			res, err := request[*messages.WorkerControlResponse](c, paths.Botmaster,
				&messages.WorkerControlRequest{Token: c.token, Worker: args[1], Action: action}, o.timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "worker %s: connected %v, paused %v\n", args[1], res.GetConnected(), res.GetPaused())
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}
