package cli

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// newVersion is `buildmaster version`: what this binary was built from.
func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary: module version, commit, commit time, Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, ok := debug.ReadBuildInfo()
			if !ok {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("version: this binary carries no build information")}
			}
			writeVersion(cmd.OutOrStdout(), info)
			return nil
		},
	}
}

// writeVersion prints info as one line: "buildmaster VERSION (commit
// REVISION[+modified], TIME) GO".
func writeVersion(w io.Writer, info *debug.BuildInfo) {
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	fmt.Fprintf(w, "buildmaster %s", info.Main.Version)
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if settings["vcs.modified"] == "true" {
			rev += "+modified"
		}
		fmt.Fprintf(w, " (commit %s", rev)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(w, ", %s", t)
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintf(w, " %s\n", info.GoVersion)
}
