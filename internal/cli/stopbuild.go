package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// buildRef is a build as the operator names it: BUILDER/NUMBER, or its id.
type buildRef struct {
	id      uint64
	builder string
	number  int32
}

func (b buildRef) String() string {
	if b.id != 0 {
		return fmt.Sprintf("build %d", b.id)
	}
	return fmt.Sprintf("build %s #%d", b.builder, b.number)
}

// parseBuild reads BUILD: a build id (12), or BUILDER/NUMBER (hello/3; the
// builder's name may itself hold slashes: the number follows the last).
func parseBuild(cmd, s string) (buildRef, error) {
	bad := func() (buildRef, error) {
		return buildRef{}, &ExitError{Code: ExitRejected,
			Err: fmt.Errorf("%s: BUILD %q: want a build id (12) or BUILDER/NUMBER (hello/3)", cmd, s)}
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		n, err := strconv.ParseInt(s[i+1:], 10, 32)
		if err != nil || n < 1 || i == 0 {
			return bad()
		}
		return buildRef{builder: s[:i], number: int32(n)}, nil
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return bad()
	}
	return buildRef{id: id}, nil
}

// stopBuild asks the botmaster to stop b.
func stopBuild(cmd *cobra.Command, o *clientOptions, b buildRef, reason string) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	res, err := request[*messages.StopBuildResponse](c, paths.Botmaster, &messages.StopBuildRequest{Token: c.token,
		Builder: b.builder, Number: b.number, Buildid: b.id, Reason: reason}, o.timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "stopping %s (buildid %d)\n", b, res.GetBuildid())
	return nil
}

// newStopBuild is `buildmaster stop-build BUILDER NUMBER`, the older
// spelling of `buildmaster stop BUILDER/NUMBER`.
func newStopBuild() *cobra.Command {
	o := &clientOptions{}
	var reason string
	cmd := &cobra.Command{
		Use:   "stop-build BUILDER NUMBER [--reason R]",
		Short: "Stop a running build (as `stop BUILDER/NUMBER`): its current step is interrupted and the build ends CANCELLED",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[1], 10, 32)
			if err != nil || n < 1 {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("stop-build: NUMBER %q: want a build number (1, 2, …)", args[1])}
			}
			return stopBuild(cmd, o, buildRef{builder: args[0], number: int32(n)}, reason)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why the build is stopped")
	return cmd
}

// newRebuild is `buildmaster rebuild BUILD`.
func newRebuild() *cobra.Command {
	o := &clientOptions{}
	var reason string
	cmd := &cobra.Command{
		Use:   "rebuild BUILD [--reason R]",
		Short: "Submit a build's buildset again for its builder (same sources and properties); BUILD is an id or BUILDER/NUMBER",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := parseBuild("rebuild", args[0])
			if err != nil {
				return err
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			res, err := request[*messages.RebuildResponse](c, paths.Schedulers, &messages.RebuildRequest{Token: c.token,
				Builder: b.builder, Number: b.number, Buildid: b.id, Reason: reason}, o.timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rebuilding %s: buildset %d, build requests %v\n", b, res.GetBuildsetid(), res.GetBrids())
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why the build is run again")
	return cmd
}

// newCancel is `buildmaster cancel REQUEST`.
func newCancel() *cobra.Command {
	o := &clientOptions{}
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel REQUEST [--reason R]",
		Short: "Cancel a build request that has not started (it completes CANCELLED); REQUEST is its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			brid, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || brid == 0 {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("cancel: REQUEST %q: want a build request id (1, 2, …)", args[0])}
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			if _, err := request[*messages.CancelBuildRequestResponse](c, paths.Schedulers,
				&messages.CancelBuildRequestRequest{Token: c.token, Brid: brid, Reason: reason}, o.timeout); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "build request %d cancelled\n", brid)
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why the request is cancelled")
	return cmd
}
