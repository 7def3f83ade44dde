// Package pbmanager is the `pbmanager` service (Buildbot's PBManager and
// MsgManager): the door workers log in through. It serves the worker
// listeners the master bound at start: listen.workers, Buildbot's
// msgpack_experimental_v7 over WebSocket (internal/wire/msgpack; wss://
// with listen.workers_tls), and listen.workers_pb, Twisted's Perspective
// Broker (internal/wire/pb). Workers always dial in; nothing listens on a
// worker.
//
// A worker logs in with the name and password of a configured worker
// (authenticator: wrong passwords are rate-limited per address, passwords
// compared in constant time, never logged). Nothing it sends before its
// login has succeeded is obeyed, and a connection not logged in within 10 s
// is closed; a frame or PB message over 1 MiB (a transfer's block aside)
// closes the connection with a logged reason. Both protocol packages do
// this.
//
// Each logged-in connection gets an actor of its own, `conn:NAME` under
// pbmanager (conn.go), which attaches it to the worker's actor
// (master/botmaster/worker:NAME) and runs its commands. A login for a name
// that already has a connection pings the old one (PingWorker): while the
// old one answers within PingTimeout the new one is refused (Buildbot's
// rule); otherwise the old one is closed and the new one takes its place
// once the old one's actor has stopped.
//
// It accepts messages.ApplyConfig (the listeners cannot change while the
// master runs; the workers and passwords in force are read at each login)
// and, from its own goroutines, accepted connections. Nothing of it is
// reachable from another process's actors.
package pbmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/httpserve"
	"github.com/buildmaster/buildmaster/internal/loginlimit"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/wire"
	"github.com/buildmaster/buildmaster/internal/wire/msgpack"
	"github.com/buildmaster/buildmaster/internal/wire/pb"
	"github.com/buildmaster/buildmaster/messages"
)

// AcceptTimeout bounds how long a logged-in connection waits for the
// master to attach it.
const AcceptTimeout = 2 * time.Minute

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{
		Name: paths.PBManagerName, Kind: "pbmanager",
		Part: func(c *messages.MasterConfig) proto.Message {
			l := c.GetListen()
			return &messages.ListenConfig{Workers: l.GetWorkers(), WorkersPb: l.GetWorkersPb(), WorkersTls: l.GetWorkersTls()}
		},
		New: func(rt *service.Runtime, s service.Spec) actor.Actor {
			return &pbmanager{Base: service.NewBase(rt, s), conns: map[string]*actor.PID{}, waiting: map[string]*accepted{}}
		},
	}
}

type pbmanager struct {
	service.Base
	conns   map[string]*actor.PID // the live connection of each worker
	waiting map[string]*accepted  // a login whose worker's old connection is pinged, or stopping
	ws      *msgpack.Server
	wsHTTP  *httpserve.Server
	pb      *pb.Server
	pbL     net.Listener
}

// accepted is a logged-in connection, from a protocol server's goroutine;
// answer says whether the login goes on.
type accepted struct {
	l *link
}

// Receive implements actor.Actor.
func (p *pbmanager) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.Base.Receive(ctx)
		p.serve(ctx)
	case *actor.Stopping:
		p.stopServing(true)
	case *actor.Restarting:
		p.stopServing(false)
	case *accepted:
		p.accept(ctx, m)
	case *actor.Terminated:
		p.terminated(ctx, m.Who)
	default:
		p.Base.Receive(ctx)
	}
}

// serve starts the protocol servers on the bound listeners.
func (p *pbmanager) serve(ctx actor.Context) {
	rt := p.RT
	auth := &authenticator{config: rt.Config, limit: loginlimit.New(loginlimit.Options{}), refused: rt.Stats.LoginsRefused}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	hand := func(c wire.Conn, protocol string) error {
		answer := make(chan error, 1)
		root.Send(self, &accepted{l: newLink(c, protocol, answer)})
		t := time.NewTimer(AcceptTimeout)
		defer t.Stop()
		select {
		case err := <-answer:
			return err
		case <-c.Done():
			return errors.New("the connection ended while the master attached it")
		case <-t.C:
			return fmt.Errorf("the master did not attach the worker within %s", AcceptTimeout)
		}
	}
	if rt.Workers != nil {
		log := rt.Log.With(slog.String("listener", "listen.workers"))
		ws, err := msgpack.NewServer(auth, func(c wire.Conn) {
			if err := hand(c, "msgpack"); err != nil {
				c.Close(err.Error())
			}
		}, msgpack.ServerOptions{Logger: log, Refusals: rt.Refusals})
		if err != nil {
			panic(err)
		}
		p.ws, p.wsHTTP = ws, httpserve.ServeTLS(rt.Workers, ws, log, rt.WorkersTLS, rt.Refusals)
	}
	if rt.WorkersPB != nil {
		log := rt.Log.With(slog.String("listener", "listen.workers_pb"))
		srv, err := pb.NewServer(pb.Config{Auth: auth, Log: log, Refusals: rt.Refusals,
			Accept: func(_ context.Context, c wire.Conn) error { return hand(c, "pb") },
			ShutdownRequested: func(c wire.Conn) {
				// buildbot-worker's graceful shutdown: stop once its builds end.
				root.Send(actor.NewPID(self.Address, paths.Worker(c.Name())), &messages.WorkerControlRequest{
					Worker: c.Name(), Action: messages.WorkerAction_WORKER_ACTION_STOP})
			}})
		if err != nil {
			panic(err)
		}
		l := rt.WorkersPB.Accepting()
		p.pb, p.pbL = srv, l
		go func() {
			if err := srv.Serve(l); err != nil {
				log.Error("stopped serving PB workers", slog.Any("error", err))
			}
		}()
	}
}

// stopServing stops the protocol servers (the listeners stay bound) and
// drops every connection: gracefully when the service stops, at once when
// it restarts.
func (p *pbmanager) stopServing(graceful bool) {
	if p.wsHTTP != nil {
		if graceful {
			p.wsHTTP.Stop(service.StopGrace)
		} else {
			p.wsHTTP.Close()
		}
		p.ws.Close("the master is stopping")
		p.wsHTTP, p.ws = nil, nil
	}
	if p.pb != nil {
		p.pbL.Close()
		p.pb.Close()
		p.pb, p.pbL = nil, nil
	}
}

// accept takes a logged-in connection: at once when its worker has none;
// else the old one is pinged, as Buildbot does.
func (p *pbmanager) accept(ctx actor.Context, a *accepted) {
	name := a.l.conn.Name()
	if w, ok := p.waiting[name]; ok && w.l.conn.Err() == nil {
		p.refuse(a, "another login for worker "+name+" is being decided")
		return
	}
	old, ok := p.conns[name]
	if !ok {
		p.spawn(ctx, a)
		return
	}
	p.waiting[name] = a
	ask.Async(ctx, old, &messages.PingWorker{}, PingTimeout+time.Second, func(r *messages.PingWorkerResponse, err error) {
		if p.waiting[name] != a {
			return
		}
		if err == nil && r.GetOk() {
			delete(p.waiting, name)
			p.refuse(a, fmt.Sprintf("worker %s is already connected (from %s) and answers", name, p.remote(old)))
			return
		}
		why := r.GetError()
		if err != nil {
			why = err.Error()
		}
		// Within the worker's line budget, as its attached and detached
		// lines: a worker can log in again and again.
		p.RT.WorkerLines.LogAt(slog.LevelInfo, name, "a worker logged in again while its old connection does not answer; replacing it",
			slog.String("worker", name), slog.String("peer", a.l.conn.Remote()), slog.String("ping", why))
		ctx.Send(old, &messages.CloseConnection{Reason: "replaced by a new login: this connection did not answer a ping"})
		// The new connection is spawned once the old one's actor has stopped.
	})
}

func (p *pbmanager) remote(pid *actor.PID) string {
	if n := p.RT.Tree.Lookup(pid.Id); n != nil {
		if st, ok := n.State().(*messages.ConnectionState); ok {
			return st.GetRemote()
		}
	}
	return "?"
}

func (p *pbmanager) refuse(a *accepted, why string) {
	p.RT.Refusals.Refused(a.l.conn.Remote(), "worker login refused", slog.String("worker", a.l.conn.Name()), slog.String("reason", why))
	a.l.answer(errors.New("login refused: " + why))
}

func (p *pbmanager) spawn(ctx actor.Context, a *accepted) {
	name := a.l.conn.Name()
	pid, err := service.Spawn(ctx, p.RT, paths.ConnPrefix+name, "conn", func() actor.Actor { return newConnActor(p.RT, a.l) })
	if err != nil {
		p.refuse(a, err.Error())
		return
	}
	p.conns[name] = pid
}

// terminated: a connection's actor stopped; a login waiting for it goes on.
func (p *pbmanager) terminated(ctx actor.Context, who *actor.PID) {
	for name, pid := range p.conns {
		if pid.Equal(who) {
			delete(p.conns, name)
			if a := p.waiting[name]; a != nil {
				delete(p.waiting, name)
				if a.l.conn.Err() == nil {
					p.spawn(ctx, a)
				}
			}
			return
		}
	}
}
