package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Options configure Run.
type Options struct {
	// Master is the master's remote endpoint, HOST:PORT.
	Master string
	// Name and Password log the worker in; Password is never logged.
	Name, Password string
	// Basedir is the worker's base directory; it must exist. Relative
	// paths in commands are relative to it.
	Basedir string
	// Listen is where this worker's remote endpoint listens: the master
	// connects back here. Default DefaultListen.
	Listen string
	// Log receives the worker's log; nil discards it.
	Log *slog.Logger
	// LibLog receives protoactor's own log lines; nil discards them.
	LibLog *slog.Logger
	// Backoff is how long to wait before the next login attempt after
	// failures consecutive failed ones (failures >= 1). nil means
	// DefaultBackoff.
	Backoff func(failures int) time.Duration
	// Connected, when set, is called after each successful login.
	Connected func()
}

// DefaultListen is Options.Listen's default: the loopback interface, any
// free port. A worker on another host than its master must listen on an
// address the master can reach.
const DefaultListen = "127.0.0.1:0"

// Back-off between login attempts: BackoffInitial after the first
// failure, doubling up to BackoffMax, each delay shortened by up to
// BackoffJitter of itself at random so that workers of a restarted master
// do not all come back at once.
const (
	BackoffInitial = time.Second
	BackoffMax     = 60 * time.Second
	BackoffJitter  = 0.2
)

// DefaultBackoff is the delay before the next login attempt after
// failures consecutive failures.
func DefaultBackoff(failures int) time.Duration {
	d := BackoffInitial
	for i := 1; i < failures && d < BackoffMax; i++ {
		d *= 2
	}
	d = min(d, BackoffMax)
	return d - time.Duration(rand.Float64()*BackoffJitter*float64(d))
}

// check validates o and fills in the defaults.
func (o Options) check() (Options, error) {
	var errs []error
	if o.Master == "" {
		errs = append(errs, errors.New("no master address"))
	} else if _, _, err := net.SplitHostPort(o.Master); err != nil {
		errs = append(errs, fmt.Errorf("master address %q: %w", o.Master, err))
	}
	if o.Name == "" {
		errs = append(errs, errors.New("no worker name"))
	}
	if o.Password == "" {
		errs = append(errs, errors.New("no password"))
	}
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", o.Listen, err))
	}
	if o.Basedir == "" {
		errs = append(errs, errors.New("no base directory"))
	} else if abs, err := filepath.Abs(o.Basedir); err != nil {
		errs = append(errs, fmt.Errorf("base directory: %w", err))
	} else if fi, err := os.Stat(abs); err != nil {
		errs = append(errs, fmt.Errorf("base directory: %w", err))
	} else if !fi.IsDir() {
		errs = append(errs, fmt.Errorf("base directory %s is not a directory", abs))
	} else {
		o.Basedir = abs
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.LibLog == nil {
		o.LibLog = slog.New(slog.DiscardHandler)
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("worker options: %w", err)
	}
	return o, nil
}
