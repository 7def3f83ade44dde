package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options configure Run.
type Options struct {
	// Master is the master's worker listener: ws://HOST:PORT, wss://HOST:PORT,
	// or HOST:PORT (ws://).
	Master string
	// Name and Password log the worker in; Password is never logged.
	Name, Password string
	// Basedir is the worker's base directory; it must exist. Builders'
	// directories are made under it.
	Basedir string
	// CAFile holds the PEM certificates to trust for a wss:// master
	// (default: the system's); CertFile and KeyFile a client certificate.
	CAFile, CertFile, KeyFile string
	// Log receives the worker's log; nil discards it.
	Log *slog.Logger
	// Backoff is how long to wait before the next dial after failures
	// consecutive failed ones (failures >= 1). nil means DefaultBackoff.
	Backoff func(failures int) time.Duration
	// OutputHold is how long a command's output is gathered before it is
	// sent (0: DefaultOutputHold); the master's buffer_size bounds how much.
	OutputHold time.Duration
	// Connected, when set, is called after each successful login.
	Connected func()
}

// DefaultOutputHold is Options.OutputHold's default: short enough for a
// log to follow a command closely, long enough that a short command's
// whole output goes with its rc.
const DefaultOutputHold = 100 * time.Millisecond

// Back-off between dials: BackoffInitial after the first failure,
// doubling up to BackoffMax, each delay shortened by up to BackoffJitter of
// itself at random so that the workers of a restarted master do not all
// come back at once.
const (
	BackoffInitial = time.Second
	BackoffMax     = 60 * time.Second
	BackoffJitter  = 0.2
)

// DefaultBackoff is the delay before the next dial after failures
// consecutive failures.
func DefaultBackoff(failures int) time.Duration {
	d := BackoffInitial
	for i := 1; i < failures && d < BackoffMax; i++ {
		d *= 2
	}
	d = min(d, BackoffMax)
	return d - time.Duration(rand.Float64()*BackoffJitter*float64(d))
}

// masterURL turns Options.Master into a ws:// or wss:// URL.
func masterURL(master string) (string, error) {
	if !strings.Contains(master, "://") {
		master = "ws://" + master
	}
	u, err := url.Parse(master)
	if err != nil {
		return "", err
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return "", fmt.Errorf("scheme %q: want ws:// or wss://", u.Scheme)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return "", fmt.Errorf("want HOST:PORT: %w", err)
	}
	return u.String(), nil
}

// check validates o and fills in the defaults.
func (o Options) check() (Options, error) {
	var errs []error
	if o.Master == "" {
		errs = append(errs, errors.New("no master address"))
	} else if u, err := masterURL(o.Master); err != nil {
		errs = append(errs, fmt.Errorf("master address %q: %w", o.Master, err))
	} else {
		o.Master = u
		if !strings.HasPrefix(u, "wss://") && (o.CAFile != "" || o.CertFile != "" || o.KeyFile != "") {
			errs = append(errs, fmt.Errorf("master address %q: --ca, --cert and --key need a wss:// master", o.Master))
		}
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		errs = append(errs, errors.New("a client certificate needs both --cert and --key"))
	}
	switch {
	case o.Name == "":
		errs = append(errs, errors.New("no worker name"))
	case strings.Contains(o.Name, ":"):
		errs = append(errs, fmt.Errorf("worker name %q: a name may not hold a colon", o.Name))
	}
	if o.Password == "" {
		errs = append(errs, errors.New("no password"))
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
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.OutputHold <= 0 {
		o.OutputHold = DefaultOutputHold
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("worker options: %w", err)
	}
	return o, nil
}
