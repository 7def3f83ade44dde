package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// PasswordEnv is the environment variable that may hold the password. The
// worker removes it from its own environment once read, so that the
// commands it runs do not inherit it.
const PasswordEnv = "BUILDWORKER_PASSWORD"

// Exit codes of buildworker.
const (
	ExitOK    = 0
	ExitUsage = 2 // bad flags or options, or the worker could not start
)

// Main runs the buildworker command with args and returns its exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	return mainWith(args, stdout, stderr, nil)
}

// mainWith is Main; tweak, when set, adjusts the options before Run (tests
// shorten the back-off with it).
func mainWith(args []string, stdout, stderr io.Writer, tweak func(*Options)) int {
	cmd := NewCommand(stdout, stderr, tweak)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(stderr, "buildworker:", err)
		return ExitUsage
	}
	return ExitOK
}

type cliOptions struct {
	master, name, passwordFile, basedir string
	ca, cert, key                       string
	logLevel, logFormat                 string
}

// NewCommand returns the buildworker cobra command.
func NewCommand(stdout, stderr io.Writer, tweak func(*Options)) *cobra.Command {
	var c cliOptions
	cmd := &cobra.Command{
		Use:   "buildworker --master HOST:PORT --name NAME --basedir DIR",
		Short: "Run a build worker: connect to a buildmaster and run the commands it sends",
		Long: "buildworker connects to a buildmaster's worker listener (listen.workers) as worker NAME over\n" +
			"Buildbot's msgpack protocol, runs the commands the master sends (shell commands, file operations,\n" +
			"file transfers) in DIR, and connects again with back-off whenever it loses the master. It opens no\n" +
			"port. SIGINT or SIGTERM stops it.\n\n" +
			"The password comes from --password-file, else $" + PasswordEnv + "; it is never printed.",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return c.run(cmd, tweak) },
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	f := cmd.Flags()
	f.StringVar(&c.master, "master", "", "the master's worker listener: HOST:PORT or ws://HOST:PORT, wss://HOST:PORT for TLS (required)")
	f.StringVar(&c.name, "name", "", "the worker's name, as in the master's config (required)")
	f.StringVar(&c.passwordFile, "password-file", "", "a file holding the password (else $"+PasswordEnv+")")
	f.StringVar(&c.basedir, "basedir", "", "the worker's base directory, created if missing (required)")
	f.StringVar(&c.ca, "ca", "", "PEM file of the certificates to trust for a wss:// master (default: the system's)")
	f.StringVar(&c.cert, "cert", "", "PEM file of a client certificate to show a wss:// master")
	f.StringVar(&c.key, "key", "", "PEM file of the client certificate's key")
	f.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

func (c *cliOptions) run(cmd *cobra.Command, tweak func(*Options)) error {
	log, _, err := newLogger(cmd.ErrOrStderr(), c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	password, err := c.readPassword()
	if err != nil {
		return err
	}
	if c.basedir == "" {
		return errors.New("--basedir is required")
	}
	if err := os.MkdirAll(c.basedir, 0o755); err != nil {
		return fmt.Errorf("base directory: %w", err)
	}
	out := cmd.OutOrStdout()
	o := Options{
		Master: c.master, Name: c.name, Password: password, Basedir: c.basedir,
		CAFile: c.ca, CertFile: c.cert, KeyFile: c.key, Log: log,
		Connected: func() { fmt.Fprintf(out, "buildworker %s connected to %s\n", c.name, c.master) },
	}
	if tweak != nil {
		tweak(&o)
	}
	if err := keepIgnoring(); err != nil {
		log.Warn("the commands may inherit the signals this worker ignores", "err", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the worker at once
	}()
	if err := Run(ctx, o); err != nil {
		return err
	}
	log.Info("worker stopped")
	return nil
}

// readPassword takes the password from --password-file or the
// environment, and removes it from the environment (the commands the
// worker runs do not inherit it).
func (c *cliOptions) readPassword() (string, error) {
	env, inEnv := os.LookupEnv(PasswordEnv)
	os.Unsetenv(PasswordEnv)
	switch {
	case c.passwordFile != "":
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", fmt.Errorf("--password-file %s is empty", c.passwordFile)
		}
		return p, nil
	case inEnv && env != "":
		return env, nil
	}
	return "", errors.New("no password: give --password-file or $" + PasswordEnv)
}

// newLogger returns a logger writing to w at level in format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	}
	return nil, 0, fmt.Errorf("--log-format %q: want text or json", format)
}
