package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCheckconfig() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "checkconfig [--config FILE]",
		Short: "Validate a config offline and print every error (exit 0 when valid, 1 when not)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				path = args[0]
			}
			if _, err := loadConfig(path); err != nil {
				fmt.Fprintln(cmd.OutOrStdout(), "Configuration Errors:")
				fmt.Fprintln(cmd.OutOrStdout(), indent(err.Error()))
				return &ExitError{Code: ExitRejected}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Config file is good!")
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (YAML); default: the built-in example config")
	return cmd
}
