package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

func newForce() *cobra.Command {
	o := &clientOptions{}
	wo := &wwwOptions{}
	req := &messages.ForceBuildRequest{}
	var props []string
	var wait bool
	cmd := &cobra.Command{
		Use:   "force BUILDER [--reason R] [--property k:v ...] [--branch B --revision REV] [--wait]",
		Short: "Start a build now through a force scheduler (Buildbot's force build); prints the buildset once it is durable",
		Long: "force starts a build through a force scheduler that lists BUILDER, and prints the buildset and its\n" +
			"build requests once they are on disk.\n\n" +
			"With --wait it then follows the requests through the data API (--www, or $" + WWWEnv + "), printing\n" +
			"each build as it starts and finishes, and exits, as Buildbot's `buildbot try --wait`, with:\n" +
			"  0  every request ended SUCCESS\n" +
			"  1  a request ended otherwise (WARNINGS, FAILURE, SKIPPED, EXCEPTION, RETRY or CANCELLED), or the\n" +
			"     force was refused\n" +
			"  2  the master could not be reached, or the connection was lost while waiting",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Builder = args[0]
			req.Properties = map[string]string{}
			for _, p := range props {
				name, value, ok := strings.Cut(p, ":")
				if !ok || name == "" {
					return &ExitError{Code: ExitRejected, Err: fmt.Errorf("force: --property %q: want NAME:VALUE", p)}
				}
				req.Properties[name] = value
			}
			if req.Owner == "" {
				req.Owner = os.Getenv("USER")
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			req.Token = c.token
			res, err := request[*messages.ForceBuildResponse](c, paths.Schedulers, req, o.timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "buildset %d (scheduler %s), build requests %v\n", res.GetBuildsetid(), res.GetScheduler(), res.GetBrids())
			if !wait {
				return nil
			}
			wo.token, wo.dataDir = c.token, o.dataDir
			api, err := wo.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return waitRequests(ctx, api, cmd.OutOrStdout(), res.GetBrids())
		},
	}
	o.flags(cmd)
	wo.wwwFlag(cmd)
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "wait for the builds and exit with their result (0 success, 1 otherwise)")
	f := cmd.Flags()
	f.StringVar(&req.Reason, "reason", "", "why the build is forced")
	f.StringVar(&req.Owner, "owner", "", "who forces it (default: $USER)")
	f.StringVar(&req.Scheduler, "scheduler", "", "the force scheduler to use (default: the first that lists the builder)")
	f.StringArrayVarP(&props, "property", "p", nil, "a property of the build, NAME:VALUE (repeatable)")
	f.StringVar(&req.Branch, "branch", "", "the branch to build")
	f.StringVar(&req.Revision, "revision", "", "the revision to build")
	f.StringVar(&req.Repository, "repository", "", "the repository")
	f.StringVar(&req.Project, "project", "", "the project")
	f.StringVar(&req.Codebase, "codebase", "", "the codebase")
	return cmd
}
