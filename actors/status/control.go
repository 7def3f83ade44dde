package status

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/ui"
	"github.com/buildmaster/buildmaster/messages"
)

// control carries out the operator's actions of the web pages and of the
// JSON-RPC control API (ui.Control) with the same control messages the CLI
// sends: StopBuildRequest and WorkerControlRequest to the botmaster,
// ForceBuildRequest, RebuildRequest, CancelBuildRequestRequest and
// EnableSchedulerRequest to the scheduler manager. Every state change made
// over HTTP goes through here, after the UI asked Options.Can (allow).
type control struct {
	rt *service.Runtime
}

var _ ui.Control = control{}

// ask sends req to the service at path and waits for its reply of type R.
// A refusal on the request's merits wraps ui.ErrInvalid; its message is the
// service's own.
func askAs[R proto.Message](ctx context.Context, c control, path string, req proto.Message) (R, error) {
	res, err := ask.Ask[R](ctx, c.rt.System.Root, actor.NewPID(c.rt.System.Address(), path), req)
	var refused *ask.Error
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, ask.ErrInvalidArgument) && errors.As(err, &refused):
		return res, fmt.Errorf("%w: %s", ui.ErrInvalid, refused.Message)
	}
	return res, err
}

func (c control) StopBuild(ctx context.Context, b ui.BuildRef, reason string) error {
	if reason == "" {
		reason = "stopped from the web page"
	}
	_, err := askAs[*messages.StopBuildResponse](ctx, c, paths.Botmaster,
		&messages.StopBuildRequest{Token: c.rt.Token, Builder: b.Builder, Number: b.Number, Reason: reason})
	return err
}

func (c control) Rebuild(ctx context.Context, b ui.BuildRef) (ui.Forced, error) {
	res, err := askAs[*messages.RebuildResponse](ctx, c, paths.Schedulers,
		&messages.RebuildRequest{Token: c.rt.Token, Builder: b.Builder, Number: b.Number})
	return forced(b.Builder, res.GetBuildsetid(), res.GetBrids()), err
}

func (c control) CancelRequest(ctx context.Context, brid uint64, reason string) error {
	_, err := askAs[*messages.CancelBuildRequestResponse](ctx, c, paths.Schedulers,
		&messages.CancelBuildRequestRequest{Token: c.rt.Token, Brid: brid, Reason: reason})
	return err
}

func (c control) worker(ctx context.Context, name string, a messages.WorkerAction) error {
	_, err := askAs[*messages.WorkerControlResponse](ctx, c, paths.Botmaster,
		&messages.WorkerControlRequest{Token: c.rt.Token, Worker: name, Action: a})
	return err
}

func (c control) PauseWorker(ctx context.Context, name, _ string) error {
	return c.worker(ctx, name, messages.WorkerAction_WORKER_ACTION_PAUSE)
}

func (c control) UnpauseWorker(ctx context.Context, name string) error {
	return c.worker(ctx, name, messages.WorkerAction_WORKER_ACTION_UNPAUSE)
}

func (c control) GracefulWorker(ctx context.Context, name string) error {
	return c.worker(ctx, name, messages.WorkerAction_WORKER_ACTION_STOP)
}

func (c control) KillWorker(ctx context.Context, name string) error {
	return c.worker(ctx, name, messages.WorkerAction_WORKER_ACTION_KILL)
}

func (c control) EnableScheduler(ctx context.Context, name string, enabled bool) error {
	_, err := askAs[*messages.EnableSchedulerResponse](ctx, c, paths.Schedulers,
		&messages.EnableSchedulerRequest{Token: c.rt.Token, Scheduler: name, Enabled: enabled})
	return err
}

func (c control) Force(ctx context.Context, f ui.ForceRequest) (ui.Forced, error) {
	res, err := askAs[*messages.ForceBuildResponse](ctx, c, paths.Schedulers, &messages.ForceBuildRequest{
		Token: c.rt.Token, Builder: f.Builder, Scheduler: f.Scheduler, Reason: f.Reason, Owner: f.Owner, Properties: f.Properties,
		Branch: f.Branch, Revision: f.Revision, Repository: f.Repository, Project: f.Project, Codebase: f.Codebase})
	return forced(f.Builder, res.GetBuildsetid(), res.GetBrids()), err
}

// forced is what a force or rebuild of one builder added.
func forced(builder string, bsid uint64, brids []uint64) ui.Forced {
	f := ui.Forced{Buildsetid: bsid, Brids: map[string]uint64{}}
	for _, id := range brids {
		f.Brids[builder] = id
	}
	return f
}

// allow is the authorization of the web actions until users and roles
// (issue 16) replace it: the admin token (Authorization: Bearer) may do
// everything; anonymous users may act when the www listener is on a
// loopback address (only this machine reaches it, as on a newcomer's
// first run), and not otherwise. The UI's guard has already refused
// cross-site requests.
func allow(rt *service.Runtime) func(r *http.Request, _ ui.Action, _ string) bool {
	local := rt.WWW != nil && loopback(rt.WWW.Addr())
	return func(r *http.Request, _ ui.Action, _ string) bool {
		return local || auth.From(r.Context()).Admin
	}
}

// loopback reports whether a is a loopback address.
func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
