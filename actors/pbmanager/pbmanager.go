// Package pbmanager is the `pbmanager` service (Buildbot's PBManager): the
// door workers log in through, by name and password, and the one actor
// their later messages reach.
//
// It accepts, from other processes:
//   - messages.WorkerLogin (a request): the name must be a configured
//     worker and the password its password. On success a new session is
//     handed, with messages.AttachWorker, to the worker's actor
//     `master/botmaster/worker:NAME`, which answers the worker (it refuses
//     a second connection for a worker already connected). On failure the
//     worker is answered a messages.WorkerLoginResponse saying why, and the
//     master's log says who tried what.
//   - messages.FromWorker: forwarded to the worker's actor when its session
//     is open; otherwise dropped, and the worker told it is detached
//     (ToWorker.detached), so that it logs in again.
//
// From the master's own actors it accepts messages.SessionClosed, and
// messages.ApplyConfig (the remote listener itself cannot change while the
// master runs).
package pbmanager

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// Spec describes the service to the master.
func Spec() service.Spec {
	return service.Spec{
		Name: paths.PBManagerName, Kind: "pbmanager",
		Part: func(c *messages.MasterConfig) proto.Message {
			return &messages.ListenConfig{Remote: c.GetListen().GetRemote()}
		},
		New: func(rt *service.Runtime, s service.Spec) actor.Actor {
			return &pbmanager{Base: service.NewBase(rt, s), sessions: map[string]*actor.PID{},
				dropLog: rate.NewLimiter(rate.Every(time.Second), 10)}
		},
	}
}

type pbmanager struct {
	service.Base
	sessions map[string]*actor.PID // open session → the worker's actor
	dropLog  *rate.Limiter
}

// Receive implements actor.Actor.
func (p *pbmanager) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.WorkerLogin:
		p.login(ctx, m)
	case *messages.FromWorker:
		if to, ok := p.sessions[m.GetSession()]; ok {
			ctx.Send(to, m)
			return
		}
		if p.dropLog.Allow() {
			p.RT.Log.Info("message from a worker without an open session dropped", slog.String("from", service.From(ctx)))
		}
		// Tell the worker, so that it logs in again (it may not have noticed
		// being detached while its connection stayed up).
		if s := ctx.Sender(); s != nil && m.GetDetach() == "" {
			ctx.Send(actor.NewPID(s.GetAddress(), paths.WorkerAgent), &messages.ToWorker{Session: m.GetSession(),
				Kind: &messages.ToWorker_Detached{Detached: "the master has detached this worker; log in again"}})
		}
	case *messages.SessionClosed:
		delete(p.sessions, m.GetSession())
	default:
		p.Base.Receive(ctx)
	}
}

// dummy is compared against when the name is unknown, so that a login takes
// as long whether or not the name exists.
var dummy = make([]byte, 64)

func (p *pbmanager) login(ctx actor.Context, m *messages.WorkerLogin) {
	from := service.From(ctx)
	refuse := func(reason, why string) {
		p.RT.Log.Warn("worker login refused", slog.String("worker", m.GetName()), slog.String("from", from),
			slog.String("reason", reason))
		service.Respond(ctx, &messages.WorkerLoginResponse{Error: why})
	}
	if ctx.Sender() == nil {
		p.RT.Log.Warn("worker login without a sender dropped", slog.String("worker", m.GetName()))
		return
	}
	if m.GetProtocolVersion() != messages.ProtocolVersion_PROTOCOL_VERSION_1 {
		refuse("protocol version "+m.GetProtocolVersion().String(),
			"login refused: this master speaks worker protocol version 1; upgrade or downgrade the worker")
		return
	}
	var cfg *messages.WorkerConfig
	for _, w := range p.RT.Config().GetWorkers() {
		if w.GetName() == m.GetName() {
			cfg = w
			break
		}
	}
	want := dummy
	if cfg != nil {
		want = []byte(cfg.GetPassword())
	}
	ok := subtle.ConstantTimeCompare([]byte(m.GetPassword()), want) == 1
	switch {
	case cfg == nil:
		refuse("unknown worker name", "login refused: unknown worker name or wrong password")
		return
	case cfg.GetPassword() == "":
		// Authentication is never optional: a worker with no password in the
		// config cannot log in at all.
		refuse("the worker has no password in the config", "login refused: unknown worker name or wrong password")
		return
	case !ok:
		refuse("wrong password", "login refused: unknown worker name or wrong password")
		return
	}
	if p.RT.Tree.Lookup(paths.Worker(cfg.GetName())) == nil {
		refuse("the worker's actor is not running", "login refused: the worker is being reconfigured; try again")
		return
	}
	session := newSession()
	to := actor.NewPID(ctx.Self().Address, paths.Worker(cfg.GetName()))
	p.sessions[session] = to
	ctx.Send(to, &messages.AttachWorker{Session: session, Address: ctx.Sender().GetAddress(), Info: m.GetInfo(),
		ReplyAddress: ctx.Sender().GetAddress(), ReplyId: ctx.Sender().GetId()})
}

func newSession() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
