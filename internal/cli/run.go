package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/gcpolicy"
	"github.com/buildmaster/buildmaster/internal/hugeheap"
	"github.com/buildmaster/buildmaster/internal/procpolicy"
	"github.com/buildmaster/buildmaster/messages"
)

type runOptions struct {
	configPath string
	dataDir    string
	ephemeral  bool
	logLevel   string
	logFormat  string
}

func (o *runOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.configPath, "config", "c", "", "config file (YAML); default: the built-in example config")
	f.StringVar(&o.dataDir, "data", dataDirDefault, "data directory (admin token, state)")
	f.BoolVar(&o.ephemeral, "ephemeral", false, "keep the state in memory only: nothing survives the process (throwaway runs)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
}

func (o *runOptions) run(cmd *cobra.Command) error {
	log, level, err := newLogger(cmd.ErrOrStderr(), o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	name, data, err := readConfig(o.configPath)
	var cfg *messages.MasterConfig
	if err == nil {
		cfg, err = config.Load(name, data)
	}
	if err != nil {
		return &ExitError{Code: ExitRejected, Err: fmt.Errorf("configuration errors; halting master:\n%w", err)}
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return &ExitError{Code: ExitRejected, Err: fmt.Errorf("data directory: %w", err)}
	}
	dataDir, _ := filepath.Abs(o.dataDir)
	token, tokenFrom, err := masterToken(dataDir)
	if err != nil {
		return &ExitError{Code: ExitRejected, Err: err}
	}
	// Signals are caught from here on: one that arrives while the master
	// starts is acted on once it runs.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	// The heap's first growth (twice the GC headroom) is into transparent
	// huge pages: see the README's performance section.
	hugeheap.Prepare(2*int64(gcpolicy.Default().Headroom), log.With("part", "hugeheap"))
	// The heap goal follows the live heap (unless GOGC is set): see the
	// README's memory section.
	defer gcpolicy.Start(gcpolicy.Default(), log.With("part", "gcpolicy"))()
	// One P while the master uses well under a core (unless GOMAXPROCS is
	// set): see the README's performance section.
	defer procpolicy.Start(procpolicy.Default(), log.With("part", "procpolicy"))()
	m, err := o.start(cmd.ErrOrStderr(), log, level, cfg, data, dataDir, token)
	if err != nil {
		return &ExitError{Code: ExitRejected, Err: fmt.Errorf("cannot start the master: %w", err)}
	}
	o.announce(cmd.OutOrStdout(), log, m, dataDir, tokenFrom)
	code := serve(log, m, sigs, token)
	go func() {
		for s := range sigs {
			log.Warn("already stopping; signal ignored", "signal", s.String())
		}
	}()
	if err := m.Stop(30 * time.Second); err != nil {
		log.Error("stop", "error", err)
		return &ExitError{Code: ExitRejected, Err: err}
	}
	log.Info("master stopped")
	if code != ExitOK {
		return &ExitError{Code: code}
	}
	return nil
}

// start starts the master on cfg (read from data); protoactor's own logs
// go to errOut too, at warning level or above.
func (o *runOptions) start(errOut io.Writer, log *slog.Logger, level slog.Level, cfg *messages.MasterConfig, data []byte,
	dataDir, token string) (*master.Master, error) {
	libLevel := max(level, slog.LevelWarn)
	libLog, _, _ := newLogger(errOut, libLevel.String(), o.logFormat)
	return master.Start(master.Options{
		Config: cfg, ConfigPath: o.configPath, Input: config.FingerprintYAML(data), DataDir: dataDir, Ephemeral: o.ephemeral, Token: token,
		Log: log, LibLog: libLog.With("lib", "protoactor"),
		// Loading a large config makes garbage many times its size; hand it
		// back to the system after each reconfig rather than keep the peak.
		Idle: func() { go debug.FreeOSMemory() },
	})
}

// announce logs that the master runs, and prints where to reach it.
func (o *runOptions) announce(out io.Writer, log *slog.Logger, m *master.Master, dataDir, tokenFrom string) {
	source := o.configPath
	if source == "" {
		source, _ = config.Example()
	}
	log.Info("BuildMaster is running", "config", source, "data", dataDir, "admin_token", tokenFrom,
		"control", m.RemoteAddr, "www", m.WWWAddr, "debug", m.DebugAddr, "workers", m.WorkersAddr, "workers_pb", m.WorkersPBAddr)
	fmt.Fprintf(out, "buildmaster is running (config %s, generation %d)\n", source, m.RT.Generation())
	fmt.Fprintf(out, "  web UI           http://%s/   (live: /ws, /sse; control: POST /api/v2/…)\n", m.WWWAddr)
	scheme := "ws"
	if m.RT.WorkersTLS != nil {
		scheme = "wss"
	}
	fmt.Fprintf(out, "  workers          %s://%s   (buildworker --master; buildbot-worker --protocol msgpack_experimental_v7)\n", scheme, m.WorkersAddr)
	fmt.Fprintf(out, "  workers (PB)     %s   (buildbot-worker, as created by create-worker)\n", m.WorkersPBAddr)
	fmt.Fprintf(out, "  control endpoint %s   (HTTP, for `buildmaster --master`: reconfig, tree, force …)\n", m.RemoteAddr)
	fmt.Fprintf(out, "  data API         http://%s/api/v2/changes\n", m.WWWAddr)
	fmt.Fprintf(out, "  debug endpoint   http://%s/debug/tree   (/healthz, /metrics, /debug/pprof/)\n", m.DebugAddr)
	fmt.Fprintf(out, "  data directory   %s   (admin token: %s)\n", dataDir, tokenFrom)
	if o.ephemeral {
		fmt.Fprintf(out, "  state            in memory only (--ephemeral): nothing survives this process\n")
	}
}

// serve runs until a signal stops the master (SIGHUP reconfigures it
// instead; SIGUSR1 starts a clean shutdown, or cancels the one under way),
// the master asks to stop (`buildmaster stop`, or a clean shutdown whose
// builds have finished), or it fails past its restart limit; it returns the
// exit code.
func serve(log *slog.Logger, m *master.Master, sigs <-chan os.Signal, token string) int {
	for {
		select {
		case s := <-sigs:
			switch s {
			case syscall.SIGHUP:
				log.Info("SIGHUP: re-reading the config")
				m.RT.System.Root.Send(m.PID, &messages.ReconfigureRequest{Token: token})
				continue
			case syscall.SIGUSR1:
				log.Info("SIGUSR1: clean shutdown (a second SIGUSR1 cancels it)")
				m.RT.System.Root.Send(m.PID, &messages.StopMasterRequest{Token: token, Mode: messages.StopMode_STOP_MODE_TOGGLE})
				continue
			}
			log.Info("stopping the master", "signal", s.String())
			return ExitOK
		case reason := <-m.Exit():
			log.Info("stopping the master", "reason", reason)
			return ExitOK
		case reason := <-m.GaveUp():
			log.Error("the master failed past its restart limit; stopping", "reason", fmt.Sprint(reason))
			return ExitRejected
		}
	}
}

// readConfig reads the config file at path, or the built-in example when
// path is "".
func readConfig(path string) (name string, data []byte, err error) {
	if path == "" {
		name, data = config.Example()
		return name, data, nil
	}
	data, err = os.ReadFile(path)
	if err != nil {
		return path, nil, &config.Error{File: path, Msg: "cannot read config file: " + err.Error()}
	}
	return path, data, nil
}

// loadConfig loads path, or the built-in example config when path is "".
func loadConfig(path string) (*messages.MasterConfig, error) {
	name, data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return config.Load(name, data)
}
