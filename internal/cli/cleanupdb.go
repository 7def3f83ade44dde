package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// newCleanupDB is `buildmaster cleanupdb` (Buildbot's): the running master
// removes now what its horizons let go, and log files no log names, then
// compacts its state; it says whether every archive segment decodes.
func newCleanupDB() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "cleanupdb",
		Short: "Remove the history past the horizons now, and orphan log files, then compact the state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.dial()
			if err != nil {
				return err
			}
			r, err := request[*messages.CleanupResponse](c, paths.Janitor, &messages.CleanupRequest{Token: c.token}, o.timeout)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "removed %d builds, %d build requests, %d buildsets, %d changes, %d sourcestamps\n",
				r.GetBuilds(), r.GetBuildrequests(), r.GetBuildsets(), r.GetChanges(), r.GetSourcestamps())
			fmt.Fprintf(out, "removed %d log files (%d of them orphans), %s\n", r.GetLogs()+r.GetOrphanFiles(), r.GetOrphanFiles(), bytesText(r.GetLogBytes()))
			fmt.Fprintf(out, "state log %d → %d entries (%s → %s on disk), in %s\n", r.GetRaftLogEntriesBefore(), r.GetRaftLogEntriesAfter(),
				bytesText(r.GetRaftLogBytesBefore()), bytesText(r.GetRaftLogBytesAfter()), r.GetTook().AsDuration().Round(time.Millisecond))
			if d := r.GetArchiveDamage(); d != "" {
				fmt.Fprintf(out, "archives DAMAGED (reads skip what does not decode): %s\n", d)
			} else {
				fmt.Fprintln(out, "archives checked: every segment decodes")
			}
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

// bytesText is n bytes for people: 512 B, 1.5 MiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
