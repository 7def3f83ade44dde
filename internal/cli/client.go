package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/remoting"
)

// clientOptions are the flags every remote client command shares.
type clientOptions struct {
	master  string
	listen  string
	token   string
	dataDir string
	timeout time.Duration
}

func (o *clientOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.master, "master", envOr(MasterEnv, config.DefaultRemoteAddr), "the master's remote endpoint, HOST:PORT (or $"+MasterEnv+")")
	f.StringVar(&o.listen, "listen", "127.0.0.1:0", "where this client listens for the master's reply (the master connects back)")
	f.StringVar(&o.token, "token", "", "admin token (default: $"+TokenEnv+", or DATA/"+TokenFile+")")
	f.StringVar(&o.dataDir, "data", dataDirDefault, "the master's data directory, to find the admin token")
	f.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for the master's reply")
}

// client is a remote actor client of one master.
type client struct {
	system *actor.ActorSystem
	remote *remote.Remote
	master string // the master's address
	token  string
}

func (o *clientOptions) dial() (*client, error) {
	token, err := clientToken(o.token, o.dataDir)
	if err != nil {
		return nil, &ExitError{Code: ExitNoMaster, Err: err}
	}
	conn, err := net.DialTimeout("tcp", o.master, 5*time.Second)
	if err != nil {
		return nil, &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("cannot reach the master at %s: %w (is it running? see --master or $"+MasterEnv+")", o.master, err)}
	}
	conn.Close()
	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	r, _, err := remoting.Start(system, o.listen, &remoting.Policy{Replies: true, Log: quiet})
	if err != nil {
		return nil, &ExitError{Code: ExitNoMaster, Err: err}
	}
	return &client{system: system, remote: r, master: o.master, token: token}, nil
}

// errLost ends a request whose connection to the master broke.
var errLost = errors.New("lost the connection")

// request sends msg to the master's actor at path (e.g. paths.Changes) and
// waits for its reply. Every failure is an ExitError: ExitRejected when the
// request was refused on its merits (a ControlError with
// INVALID_ARGUMENT), ExitNoMaster otherwise.
func request[R proto.Message](c *client, path string, msg proto.Message, timeout time.Duration) (R, error) {
	// A connection to the master that breaks before the reply ends the wait
	// at once, rather than after the whole timeout.
	ctx, lose := context.WithCancelCause(context.Background())
	defer lose(nil)
	sub := c.system.EventStream.Subscribe(func(ev any) {
		if e, ok := ev.(*remote.EndpointTerminatedEvent); ok && e.Address == c.master {
			lose(errLost)
		}
	})
	defer c.system.EventStream.Unsubscribe(sub)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The reply comes to an unguessable address: no other process can
	// answer in the master's place.
	reply, err := ask.Reply[R](ask.Await(ctx, remoting.Request(c.system, actor.NewPID(c.master, path), msg, timeout)))
	var refused *ask.Error
	switch {
	case err == nil:
		return reply, nil
	case errors.Is(err, errLost):
		err = fmt.Errorf("%w to the master at %s before it replied; "+
			"the request may or may not have been carried out", errLost, c.master)
	case errors.Is(err, actor.ErrTimeout):
		err = fmt.Errorf("no reply from the master at %s within %s (can it connect back to this client? see --listen)", c.master, timeout)
	case errors.As(err, &refused):
		code := ExitNoMaster
		if errors.Is(err, ask.ErrInvalidArgument) {
			code = ExitRejected
		}
		return reply, &ExitError{Code: code, Err: fmt.Errorf("the master refused the request: %s", refused.Message)}
	}
	return reply, &ExitError{Code: ExitNoMaster, Err: err}
}

func (c *client) close() {
	c.remote.Shutdown(false)
	c.system.Shutdown()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
