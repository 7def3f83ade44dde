package remoting

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// ServerOptions returns the gRPC server options that enforce p.
func (p *Policy) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StreamInterceptor(p.streamInterceptor),
		grpc.UnaryInterceptor(refuseUnary),
	}
}

func (p *Policy) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	peerAddr := "unknown"
	peerHost := ""
	if pr, ok := peer.FromContext(ss.Context()); ok && pr.Addr != nil {
		peerAddr = pr.Addr.String()
		peerHost, _, _ = net.SplitHostPort(peerAddr)
	}
	defer func() {
		if r := recover(); r != nil {
			p.Log.Error("remote: recovered from a panic while reading from a peer", "peer", peerAddr,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
	}()
	return handler(srv, &guardedStream{ServerStream: ss, policy: p, peerAddr: peerAddr, peerHost: peerHost})
}

// refuseUnary refuses the library's unary calls (ListProcesses,
// GetProcessDiagnostics), which panic with "implement me".
func refuseUnary(_ context.Context, _ any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
	return nil, status.Errorf(codes.Unimplemented, "%s is not served", info.FullMethod)
}

// guardedStream filters every message batch a peer sends before protoactor's
// endpoint reader sees it.
type guardedStream struct {
	grpc.ServerStream
	policy   *Policy
	peerAddr string
	peerHost string
}

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	rm, ok := m.(*remote.RemoteMessage)
	if !ok {
		return nil
	}
	batch := rm.GetMessageBatch()
	if batch == nil {
		return nil
	}
	kept := batch.Envelopes[:0]
	for _, e := range batch.Envelopes {
		if e == nil {
			continue
		}
		target, typeName, code, why := s.policy.verdict(batch, e, s.peerHost)
		if code != "" {
			s.policy.logDrop(s.peerAddr, target, typeName, why)
			if s.policy.Dropped != nil {
				s.policy.Dropped(code)
			}
			continue
		}
		kept = append(kept, e)
	}
	batch.Envelopes = kept
	return nil
}

// logDrop logs one dropped message, unless the rate limit says to only
// count it.
func (p *Policy) logDrop(peer, target, typeName, why string) {
	if p.logs != nil && !p.logs.Allow() {
		p.suppressed.Add(1)
		return
	}
	attrs := []any{slog.String("peer", peer), slog.String("target", target),
		slog.String("type", typeName), slog.String("reason", why)}
	if p.suppressed != nil {
		if n := p.suppressed.Swap(0); n > 0 {
			attrs = append(attrs, slog.Int64("not_logged_before", n))
		}
	}
	p.Log.Warn("remote: dropped a message from another process", attrs...)
}
