package remoting

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// WriterQueueSize is the initial size of each peer's outbound queue.
const WriterQueueSize = 1024

// WriterBatchSize is how many queued messages go to a peer in one gRPC
// message, and MaxMessageBytes the largest gRPC message taken from a peer
// (gRPC's default is 4 MiB). A batch stays well under it unless its
// messages are large (a whole config, a change of up to 1 MiB).
const (
	WriterBatchSize = 64
	MaxMessageBytes = 16 << 20
)

// ConnBufferBytes is each connection's read and write buffer. gRPC's 32 KiB
// cost ~68 MB at 1,000 connected workers (two connections each).
const ConnBufferBytes = 8 << 10

// Start starts protoactor remote for system on addr (host:port; port 0
// picks a free one) behind policy, and returns it with the address it
// listens on. Unlike remote.Start, it reports a port it cannot bind as an
// error instead of panicking.
//
// protoactor binds the socket itself (it takes an address, not a listener),
// so the endpoint is bound once, here; with port 0 the address it reports is
// the one the system picked.
func Start(system *actor.ActorSystem, addr string, policy *Policy) (*remote.Remote, string, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("remote listener %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err == nil && (port < 0 || port > 65535) {
		err = errors.New("not a port number")
	}
	if err != nil {
		return nil, "", fmt.Errorf("remote listener %q: bad port: %w", addr, err)
	}
	guard := *policy
	// The address the library advertises, read by the guard once the
	// endpoint serves (Start sets it before it serves).
	guard.self = system.Address
	guard.logs, guard.suppressed = rate.NewLimiter(DropLogRate, DropLogBurst), &atomic.Int64{}
	cfg := remote.Configure(host, port,
		// The library starts each peer's outbound queue at a million slots
		// (16 MB); it grows when full, so start small: every CLI call and
		// every worker is a peer.
		remote.WithEndpointWriterQueueSize(WriterQueueSize),
		// It sends up to a thousand queued messages as one gRPC message; a
		// burst of output chunks then exceeds what the receiver takes and
		// breaks the connection. Send fewer at once, and take more.
		remote.WithEndpointWriterBatchSize(WriterBatchSize),
		remote.WithServerOptions(append(guard.ServerOptions(), grpc.MaxRecvMsgSize(MaxMessageBytes),
			grpc.ReadBufferSize(ConnBufferBytes), grpc.WriteBufferSize(ConnBufferBytes))...),
		remote.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithReadBufferSize(ConnBufferBytes), grpc.WithWriteBufferSize(ConnBufferBytes)))
	r := remote.NewRemote(system, cfg)
	if err := startRecovering(r); err != nil {
		// The library's error is text; bind to say why with the error itself.
		if l, lerr := net.Listen("tcp", addr); lerr != nil {
			err = lerr
		} else {
			l.Close()
		}
		return nil, "", fmt.Errorf("remote listener %q: %w", addr, err)
	}
	return r, system.Address(), nil
}

func startRecovering(r *remote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	r.Start()
	return nil
}

// Stop stops r, started by Start for system: its gRPC server first, which
// ends every inbound stream, then the library's endpoint actors, which
// close the outbound connections.
//
// It does not call r.Shutdown(true): that tells each inbound stream's
// reader to leave by sending on a channel the reader closes as it ends, so
// a peer disconnecting at that moment is a data race (and a panic, "send on
// closed channel", when the send comes second); it also sets the readers'
// suspended flag without synchronisation.
func Stop(system *actor.ActorSystem, r *remote.Remote) {
	r.Shutdown(false)
	for _, name := range []string{endpointSupervisor, endpointActivator} {
		_ = system.Root.StopFuture(system.NewLocalPID(name)).Wait()
	}
}

// The names protoactor's remote spawns its endpoint actors under.
const (
	endpointSupervisor = "EndpointSupervisor"
	endpointActivator  = "activator"
)
