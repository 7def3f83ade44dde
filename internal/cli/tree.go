package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/treeview"
	"github.com/buildmaster/buildmaster/messages"
)

func newTree() *cobra.Command {
	o := &clientOptions{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "tree [--master HOST:PORT] [--json]",
		Short: "Print the live supervision tree of a running master",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.dial()
			if err != nil {
				return err
			}
			// The text is rendered by the master, a master that predates
			// text answers with the nodes.
			res, err := request[*messages.GetTreeResponse](c, paths.Master, &messages.GetTreeRequest{Token: c.token, Text: !asJSON}, o.timeout)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(treeview.FromProto(res.GetRoot()))
			}
			text := res.GetText()
			if res.GetRoot() != nil {
				text = treeview.AppendText(nil, res.GetRoot())
			}
			if _, err := fmt.Fprintf(out, "generation %d\n", res.GetGeneration()); err != nil {
				return err
			}
			// A line a node: one write for all of them.
			_, err = out.Write(text)
			return err
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, as GET /debug/tree does")
	return cmd
}
