package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

func newStopBuild() *cobra.Command {
	o := &clientOptions{}
	var reason string
	cmd := &cobra.Command{
		Use:   "stop-build BUILDER NUMBER [--reason R]",
		Short: "Stop a running build: its current step is interrupted and the build ends CANCELLED",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[1], 10, 32)
			if err != nil || n < 1 {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("stop-build: NUMBER %q: want a build number (1, 2, …)", args[1])}
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			defer c.close()
			_, err = request[*messages.StopBuildResponse](c, paths.Botmaster, &messages.StopBuildRequest{Token: c.token, Builder: args[0],
				Number: int32(n), Reason: reason}, o.timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stopping build %s #%d\n", args[0], n)
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why the build is stopped")
	return cmd
}
