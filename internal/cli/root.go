package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitRejected = 1 // a config was invalid or a request was refused on its merits
	ExitNoMaster = 2 // the master could not be reached, or refused the client
	// ExitIncomplete: a reconfig was applied (the new generation is
	// installed), but the master warned about it: some services did not
	// acknowledge the new generation in time.
	ExitIncomplete = 3
)

// ExitError carries an exit code out of a command.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Main runs the buildmaster command with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := NewRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "buildmaster:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "buildmaster:", err)
	return ExitRejected
}

// NewRoot returns the root command.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	ro := &runOptions{}
	root := &cobra.Command{
		Use:   "buildmaster",
		Short: "A continuous-integration build master, organised like Buildbot's, built as an actor system",
		Long: "buildmaster runs a CI build master (with no subcommand, `run` on the built-in example config)\n" +
			"and talks to a running one over its control endpoint (listen.remote).",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return ro.run(cmd) },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	ro.flags(root)
	run := &cobra.Command{
		Use:   "run",
		Short: "Run a master (on the built-in example config unless --config is given)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return ro.run(cmd) },
	}
	ro.flags(run)
	root.AddCommand(run, newCheckconfig(), newReconfig(), newTree(), newSendchange(), newForce(), newStopBuild(), newRebuild(), newCancel(), newWorker(), newStop(),
		newBuilds(), newLogs(), newVersion(), newUser(), newToken(), newCleanupDB())
	return root
}

// newLogger returns the process logger writing to w at level.
func newLogger(w io.Writer, level, format string) (*slog.Logger, slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, 0, &ExitError{Code: ExitRejected, Err: fmt.Errorf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	}
	return nil, 0, &ExitError{Code: ExitRejected, Err: fmt.Errorf("--log-format %q: want text or json", format)}
}

// dataDirDefault is where a master keeps its data, and where a client on the
// same host finds the admin token, unless told otherwise.
const dataDirDefault = ".buildmaster"
