package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/control"
)

// clientOptions are the flags every control client command shares.
type clientOptions struct {
	master  string
	token   string
	dataDir string
	timeout time.Duration
}

func (o *clientOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.master, "master", envOr(MasterEnv, config.DefaultRemoteAddr), "the master's control endpoint (listen.remote), HOST:PORT (or $"+MasterEnv+")")
	f.StringVar(&o.token, "token", "", "admin token (default: $"+TokenEnv+", or DATA/"+TokenFile+")")
	f.StringVar(&o.dataDir, "data", dataDirDefault, "the master's data directory, to find the admin token")
	f.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for the master's reply")
}

// client is a control client of one master: each request is one HTTP POST
// to its control endpoint, answered on the same connection.
type client struct {
	master string // the master's address
	token  string
	ctl    *control.Client
}

func (o *clientOptions) dial() (*client, error) {
	if strings.Contains(o.master, "://") {
		return nil, &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("--master %s: give the control endpoint's HOST:PORT (listen.remote, default %s), not a URL", o.master, config.DefaultRemoteAddr)}
	}
	token, err := clientToken(o.token, o.dataDir)
	if err != nil {
		return nil, &ExitError{Code: ExitNoMaster, Err: err}
	}
	return &client{master: o.master, token: token, ctl: control.NewClient(o.master)}, nil
}

// request sends msg to the master's actor at path (e.g. paths.Changes) and
// waits for its reply. Every failure is an ExitError: ExitRejected when the
// request was refused on its merits (a ControlError with
// INVALID_ARGUMENT), ExitNoMaster otherwise.
func request[R proto.Message](c *client, path string, msg proto.Message, timeout time.Duration) (R, error) {
	reply, err := ask.Reply[R](c.ctl.Call(context.Background(), path, msg, timeout))
	var (
		refused  *ask.Error
		endpoint *control.Refused
	)
	switch {
	case err == nil:
		return reply, nil
	case errors.Is(err, control.ErrUnreachable):
		if op, ok := errors.AsType[*net.OpError](err); ok {
			err = op // the dial's own error: the address is said once
		}
		err = fmt.Errorf("cannot reach the master at %s: %w (is it running? see --master or $"+MasterEnv+")", c.master, err)
	case errors.Is(err, control.ErrLost):
		err = fmt.Errorf("%w to the master at %s before it replied; "+
			"the request may or may not have been carried out", control.ErrLost, c.master)
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("no reply from the master at %s within %s", c.master, timeout)
	case errors.As(err, &endpoint):
		err = fmt.Errorf("the master at %s refused the request: %s", c.master, endpoint.Message)
	case errors.As(err, &refused):
		code := ExitNoMaster
		if errors.Is(err, ask.ErrInvalidArgument) {
			code = ExitRejected
		}
		return reply, &ExitError{Code: code, Err: fmt.Errorf("the master refused the request: %s", refused.Message)}
	}
	return reply, &ExitError{Code: ExitNoMaster, Err: err}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
