package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

func newReconfig() *cobra.Command {
	o := &clientOptions{}
	var path string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "reconfig [--master HOST:PORT] [--config FILE] [--dry-run]",
		Short: "Reconfigure a running master (it re-reads its own config file unless --config is given)",
		Long: "Reconfigure a running master: it validates the whole new config, installs it as a new generation,\n" +
			"has every service apply it and answers with the changes by tree path. Without --config it re-reads\n" +
			"its own config file. Either way it reads the config's secrets ({secret: NAME}) again from their\n" +
			"providers: a secret rotated in its file, Vault or the environment is picked up, the reply naming it\n" +
			"and the services that use it.\n\n" +
			"Exit status:\n" +
			"  0  applied (or unchanged, or a valid --dry-run)\n" +
			"  1  rejected: the config is invalid (or --config unreadable); the master keeps its old generation\n" +
			"  2  the master could not be reached, refused this client, or did not reply in --timeout\n" +
			"  3  applied, with warnings on stderr: the new generation is installed, but some services (named)\n" +
			"     did not acknowledge it within the master's timeout (" + master.AckTimeout.String() + "); they may apply it late or\n" +
			"     not at all, and their changes are not listed. `buildmaster tree` shows their state; running\n" +
			"     the same reconfig again sends the config to every service again (exit 0 once all answer)",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &messages.ReconfigureRequest{DryRun: dryRun}
			if path != "" {
				data, err := os.ReadFile(path)
				if err != nil {
					return &ExitError{Code: ExitRejected, Err: fmt.Errorf("--config: %w", err)}
				}
				// The master parses the text: it validates it anyway, reports
				// every error with its line, and finds a file it already runs
				// unchanged without parsing it. Parsing it here as well would
				// cost the client more than the whole reconfiguration costs
				// the master (~100 ms for 1,000 builders).
				req.ConfigName, req.ConfigYaml = path, data
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			req.Token = c.token
			res, err := request[*messages.ReconfigureResponse](c, paths.Master, req, o.timeout)
			if err != nil {
				return err
			}
			printReconfigure(cmd.OutOrStdout(), res)
			for _, w := range res.GetWarnings() {
				fmt.Fprintln(cmd.ErrOrStderr(), "buildmaster: warning:", w)
			}
			switch {
			case !res.GetOk():
				return &ExitError{Code: ExitRejected}
			case len(res.GetWarnings()) > 0:
				return &ExitError{Code: ExitIncomplete}
			}
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVarP(&path, "config", "c", "", "send this config file instead of having the master re-read its own")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and print the changes without applying them")
	return cmd
}

func printReconfigure(w io.Writer, r *messages.ReconfigureResponse) {
	took := r.GetTook().AsDuration()
	switch {
	case !r.GetOk():
		fmt.Fprintf(w, "configuration rejected; the master keeps running generation %d unchanged (%s):\n", r.GetGeneration(), plural(len(r.GetErrors()), "error"))
		for _, e := range r.GetErrors() {
			fmt.Fprintf(w, "  %s\n", formatConfigError(e))
		}
		return
	case r.GetUnchanged():
		fmt.Fprintf(w, "unchanged: generation %d already runs this very config; nothing to do (took %s)\n", r.GetGeneration(), took)
		return
	case r.GetDryRun():
		fmt.Fprintf(w, "dry run: the config is valid; applying it to generation %d would make %s (checked in %s):\n", r.GetGeneration(), plural(len(r.GetChanges()), "change"), took)
	default:
		fmt.Fprintf(w, "reconfigured: generation %d, %s, took %s", r.GetGeneration(), plural(len(r.GetChanges()), "change"), took)
		if r.GetCollapsed() > 1 {
			fmt.Fprintf(w, " (%d requests collapsed into this run)", r.GetCollapsed())
		}
		fmt.Fprintln(w)
	}
	if s := r.GetSecretsChanged(); len(s) > 0 {
		fmt.Fprintf(w, "  secrets changed in their providers: %s\n", strings.Join(s, ", "))
	}
	for _, c := range r.GetChanges() {
		fmt.Fprintf(w, "  %-8s %s\n", strings.ToLower(strings.TrimPrefix(c.GetKind().String(), "CHANGE_KIND_")), c.GetPath())
	}
}

func formatConfigError(e *messages.ConfigError) string {
	var b strings.Builder
	b.WriteString(e.GetFile())
	if e.GetLine() > 0 {
		fmt.Fprintf(&b, ":%d", e.GetLine())
		if e.GetColumn() > 0 {
			fmt.Fprintf(&b, ":%d", e.GetColumn())
		}
	}
	if e.GetPath() != "" && !strings.HasPrefix(e.GetMessage(), e.GetPath()) {
		fmt.Fprintf(&b, ": %s", e.GetPath())
	}
	fmt.Fprintf(&b, ": %s", e.GetMessage())
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
