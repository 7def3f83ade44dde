package remoting

import (
	"fmt"
	"net"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
)

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
	if port == 0 {
		// Find a free port first: remote.Start must be given the real one so
		// that the address it advertises is the one peers can reach.
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, "", fmt.Errorf("remote listener %q: %w", addr, err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	} else if l, err := net.Listen("tcp", addr); err != nil {
		return nil, "", fmt.Errorf("remote listener %q: %w", addr, err)
	} else {
		l.Close()
	}
	cfg := remote.Configure(host, port, remote.WithServerOptions(policy.ServerOptions()...))
	r := remote.NewRemote(system, cfg)
	if err := startRecovering(r); err != nil {
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
