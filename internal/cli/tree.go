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
			// The generation, then a line a node: one write for all of them.
			text := fmt.Appendf(nil, "generation %d\n", res.GetGeneration())
			if res.GetRoot() != nil {
				text = treeview.AppendText(text, res.GetRoot())
			} else {
				text = append(text, res.GetText()...)
			}
			_, err = out.Write(text)
			return err
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, as GET /debug/tree does")
	return cmd
}
