package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

func newForce() *cobra.Command {
	o := &clientOptions{}
	req := &messages.ForceBuildRequest{}
	var props []string
	cmd := &cobra.Command{
		Use:   "force BUILDER [--reason R] [--property k:v ...] [--branch B --revision REV]",
		Short: "Start a build now through a force scheduler (Buildbot's force build); prints the buildset once it is durable",
		Args:  cobra.ExactArgs(1),
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
			defer c.close()
			req.Token = c.token
			res, err := request[*messages.ForceBuildResponse](c, paths.Schedulers, req, o.timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "buildset %d (scheduler %s), build requests %v\n", res.GetBuildsetid(), res.GetScheduler(), res.GetBrids())
			return nil
		},
	}
	o.flags(cmd)
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
