package cli

import (
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
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/remoting"
	"github.com/buildmaster/buildmaster/messages"
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
	f.StringVar(&o.master, "master", config.DefaultRemoteAddr, "the master's remote endpoint, HOST:PORT")
	f.StringVar(&o.listen, "listen", "127.0.0.1:0", "where this client listens for the master's reply (the master connects back)")
	f.StringVar(&o.token, "token", "", "admin token (default: $"+TokenEnv+", or DATA/"+TokenFile+")")
	f.StringVar(&o.dataDir, "data", dataDirDefault, "the master's data directory, to find the admin token")
	f.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for the master's reply")
}

// client is a remote actor client of one master.
type client struct {
	system *actor.ActorSystem
	remote *remote.Remote
	master *actor.PID
	token  string
}

// pid is the master's actor at path.
func (c *client) pid(path string) *actor.PID { return actor.NewPID(c.master.Address, path) }

func (o *clientOptions) dial() (*client, error) {
	token, err := clientToken(o.token, o.dataDir)
	if err != nil {
		return nil, &ExitError{Code: ExitNoMaster, Err: err}
	}
	conn, err := net.DialTimeout("tcp", o.master, 5*time.Second)
	if err != nil {
		return nil, &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("cannot reach the master at %s: %w (is it running? see --master)", o.master, err)}
	}
	conn.Close()
	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	r, _, err := remoting.Start(system, o.listen, &remoting.Policy{Futures: true, Log: quiet})
	if err != nil {
		return nil, &ExitError{Code: ExitNoMaster, Err: err}
	}
	return &client{system: system, remote: r, master: actor.NewPID(o.master, paths.Master), token: token}, nil
}

// request sends msg to the master and waits for its reply.
func (c *client) request(msg proto.Message, timeout time.Duration) (proto.Message, error) {
	return c.requestTo(c.master, msg, timeout)
}

// requestTo sends msg to the master's actor at path (e.g. master/change_svc)
// and waits for its reply. A ControlError reply becomes an ExitError:
// ExitRejected when the request was refused on its merits, ExitNoMaster
// when the client was.
func (c *client) requestTo(to *actor.PID, msg proto.Message, timeout time.Duration) (proto.Message, error) {
	// A connection to the master that breaks before the reply ends the wait
	// at once, rather than after the whole timeout.
	lost := make(chan struct{}, 1)
	sub := c.system.EventStream.Subscribe(func(ev any) {
		if e, ok := ev.(*remote.EndpointTerminatedEvent); ok && e.Address == to.Address {
			select {
			case lost <- struct{}{}:
			default:
			}
		}
	})
	defer c.system.EventStream.Unsubscribe(sub)
	type result struct {
		res any
		err error
	}
	done := make(chan result, 1)
	f := c.system.Root.RequestFuture(to, msg, timeout)
	go func() {
		res, err := f.Result()
		done <- result{res, err}
	}()
	var res any
	var err error
	select {
	case r := <-done:
		res, err = r.res, r.err
	case <-lost:
		return nil, &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("lost the connection to the master at %s before it replied; "+
			"the request may or may not have been carried out", to.Address)}
	}
	if err != nil {
		if errors.Is(err, actor.ErrTimeout) {
			err = fmt.Errorf("no reply from the master at %s within %s (can it connect back to this client? see --listen)", to.Address, timeout)
		}
		return nil, &ExitError{Code: ExitNoMaster, Err: err}
	}
	if ce, ok := res.(*messages.ControlError); ok {
		code := ExitNoMaster
		if ce.GetCode() == messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT {
			code = ExitRejected
		}
		return nil, &ExitError{Code: code, Err: fmt.Errorf("the master refused the request: %s", ce.GetMessage())}
	}
	reply, ok := res.(proto.Message)
	if !ok {
		return nil, &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("unexpected reply %T", res)}
	}
	return reply, nil
}

func (c *client) close() {
	c.remote.Shutdown(false)
	c.system.Shutdown()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
