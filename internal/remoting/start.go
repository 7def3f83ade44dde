package remoting

import (
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
func Start(system *actor.ActorSystem, addr string, policy *Policy) (*remote.Remote, string, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("remote listener %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, "", fmt.Errorf("remote listener %q: bad port: %w", addr, err)
	}
	// Bind once first: to report a busy port as an error, to find a free
	// port when given 0 (remote.Start must be given the real one, so that the
	// address it advertises is the one peers can reach), and to learn that
	// address exactly as the library will spell it.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("remote listener %q: %w", addr, err)
	}
	if port == 0 {
		port = l.Addr().(*net.TCPAddr).Port
	}
	self := l.Addr().String()
	l.Close()
	guard := *policy
	guard.self = self
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
		return nil, "", fmt.Errorf("remote listener %q: %w", addr, err)
	}
	if system.Address() != self {
		r.Shutdown(false)
		return nil, "", fmt.Errorf("remote listener %q: listening as %s, expected %s", addr, system.Address(), self)
	}
	return r, self, nil
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
