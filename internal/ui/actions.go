package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// act is one operator action, resolved against the state: what it is, on
// what (for Can), and how to do it. Form posts and JSON-RPC calls both
// become an act and go through perform.
type act struct {
	action Action
	target string
	do     func(ctx context.Context, c Control) (any, error)
	// back is where a form post is redirected once done.
	back string
}

// Limits on what a stranger's POST can cost.
const (
	maxActionBody = 64 << 10
	maxProps      = 100
	actionTimeout = time.Minute
)

// perform checks that the request may change state and that the user may
// do a, then does it through the Control.
func (u *UI) perform(r *http.Request, a *act) (any, error) {
	if u.opts.Control == nil {
		return nil, &httpError{http.StatusNotImplemented, "this master takes no actions from the web pages"}
	}
	if u.opts.Can != nil && !u.opts.Can(r, a.action, a.target) {
		return nil, &httpError{http.StatusForbidden, fmt.Sprintf("you may not %s %s", a.action, a.target)}
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	res, err := a.do(ctx, u.opts.Control)
	if err != nil {
		u.opts.Log.Info("ui: action refused", "action", a.action, "target", a.target, "error", err)
		return nil, fmt.Errorf("%s %s: %w", a.action, a.target, err)
	}
	u.opts.Log.Info("ui: action", "action", a.action, "target", a.target)
	return res, nil
}

// form handles a plain form post: bounded body, Origin or token, the act
// resolve returns, then a redirect back (303) or a page with the error.
func (u *UI) form(resolve func(r *http.Request, txn *memdb.Txn) (*act, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxActionBody)
		if err := u.guard.check(r); err != nil {
			u.fail(w, r, &httpError{http.StatusForbidden, err.Error()})
			return
		}
		if err := r.ParseForm(); err != nil {
			u.fail(w, r, badRequest("reading the form: %v", err))
			return
		}
		txn := u.opts.State.Read()
		a, err := resolve(r, txn)
		txn.Abort()
		if err == nil {
			_, err = u.perform(r, a)
		}
		if err != nil {
			u.fail(w, r, err)
			return
		}
		http.Redirect(w, r, safeReturn(r.PostFormValue("return"), a.back), http.StatusSeeOther)
	}
}

// buildAct resolves stop or rebuild of build b.
func buildAct(b *messages.Build, builder string, method string, reason string) (*act, error) {
	ref := BuildRef{ID: b.Id, Builder: builder, Number: b.Number}
	a := &act{target: fmt.Sprintf("builders/%s/builds/%d", builder, b.Number), back: fmt.Sprintf("/builders/%s/builds/%d", url.PathEscape(builder), b.Number)}
	switch method {
	case "stop":
		if b.Results != nil {
			return nil, badRequest("build %d of %s has already finished", b.Number, builder)
		}
		a.action = ActStop
		a.do = func(ctx context.Context, c Control) (any, error) { return nil, c.StopBuild(ctx, ref, reason) }
	case "rebuild":
		a.action = ActRebuild
		a.back = "/builders/" + url.PathEscape(builder)
		a.do = func(ctx context.Context, c Control) (any, error) {
			f, err := c.Rebuild(ctx, ref)
			return []any{f.Buildsetid, f.Brids}, err
		}
	default:
		return nil, &httpError{http.StatusNotImplemented, fmt.Sprintf("builds have no action %q (stop, rebuild)", method)}
	}
	return a, nil
}

// requestAct resolves cancelling build request brid.
func requestAct(txn *memdb.Txn, brid uint64, reason string) (*act, error) {
	req, _ := state.Lookup(txn, state.TableBuildRequests, brid).(*messages.BuildRequest)
	if req == nil {
		return nil, notFound("there is no build request %d", brid)
	}
	if req.Complete {
		return nil, badRequest("build request %d is already complete", brid)
	}
	b, _ := state.Lookup(txn, state.TableBuilders, req.Builderid).(*messages.Builder)
	return &act{
		action: ActCancel, target: fmt.Sprintf("builders/%s/buildrequests/%d", b.GetName(), brid), back: "/requests",
		do: func(ctx context.Context, c Control) (any, error) { return nil, c.CancelRequest(ctx, brid, reason) },
	}, nil
}

// workerAct resolves a worker action; method is Buildbot's (pause,
// unpause, stop, kill) or the form's "graceful" for stop.
func workerAct(name, method, reason string) (*act, error) {
	a := &act{target: "workers/" + name, back: "/workers"}
	switch method {
	case "pause":
		a.action = ActPause
		a.do = func(ctx context.Context, c Control) (any, error) { return nil, c.PauseWorker(ctx, name, reason) }
	case "unpause":
		a.action = ActUnpause
		a.do = func(ctx context.Context, c Control) (any, error) { return nil, c.UnpauseWorker(ctx, name) }
	case "stop", "graceful":
		a.action = ActGraceful
		a.do = func(ctx context.Context, c Control) (any, error) { return nil, c.GracefulWorker(ctx, name) }
	case "kill":
		a.action = ActKill
		a.do = func(ctx context.Context, c Control) (any, error) { return nil, c.KillWorker(ctx, name) }
	default:
		return nil, &httpError{http.StatusNotImplemented, fmt.Sprintf("workers have no action %q (pause, unpause, stop, kill)", method)}
	}
	return a, nil
}

// schedulerAct resolves enabling or disabling a scheduler.
func schedulerAct(name string, enabled bool) *act {
	return &act{
		action: ActEnable, target: "schedulers/" + name, back: "/schedulers",
		do: func(ctx context.Context, c Control) (any, error) { return nil, c.EnableScheduler(ctx, name, enabled) },
	}
}

// forceAct resolves forcing builds on builders through scheduler sched;
// its result is Buildbot's [buildsetid, {builder: brid}] (the first
// buildset's id when several builders are forced).
func forceAct(cfg *messages.MasterConfig, f ForceRequest, builders []string) (*act, error) {
	var sc *messages.SchedulerConfig
	for _, s := range cfg.GetSchedulers() {
		if s.GetType() == messages.SchedulerType_SCHEDULER_TYPE_FORCE && s.GetName() == f.Scheduler {
			sc = s
		}
	}
	if sc == nil {
		return nil, notFound("there is no force scheduler named %q", f.Scheduler)
	}
	if len(builders) == 0 {
		builders = sc.GetBuilders()
	}
	if len(builders) == 0 {
		return nil, badRequest("force scheduler %s lists no builders", f.Scheduler)
	}
	for _, b := range builders {
		if !slices.Contains(sc.GetBuilders(), b) {
			return nil, badRequest("force scheduler %s does not list builder %q", f.Scheduler, b)
		}
	}
	if len(f.Properties) > maxProps {
		return nil, badRequest("%d properties; at most %d", len(f.Properties), maxProps)
	}
	target := "forceschedulers/" + f.Scheduler
	if len(builders) == 1 {
		target += "/builders/" + builders[0]
	}
	return &act{
		action: ActForce, target: target, back: "/builders/" + url.PathEscape(builders[0]),
		do: func(ctx context.Context, c Control) (any, error) {
			var bsid uint64
			brids := map[string]uint64{}
			for _, b := range builders {
				one := f
				one.Builder = b
				res, err := c.Force(ctx, one)
				if err != nil {
					return nil, err
				}
				if bsid == 0 {
					bsid = res.Buildsetid
				}
				for k, v := range res.Brids {
					brids[k] = v
				}
			}
			return []any{bsid, brids}, nil
		},
	}, nil
}

// The form handlers.

func (u *UI) formBuild(w http.ResponseWriter, r *http.Request) {
	u.form(func(r *http.Request, txn *memdb.Txn) (*act, error) {
		name := r.PathValue("name")
		b, _ := state.First(txn, state.TableBuilders, state.IndexName, name).(*messages.Builder)
		num, err := strconv.ParseInt(r.PathValue("number"), 10, 32)
		if b == nil || err != nil {
			return nil, notFound("there is no build %s of builder %q", r.PathValue("number"), name)
		}
		bd, _ := state.First(txn, state.TableBuilds, state.IndexBuilderNumber, b.Id, int32(num)).(*messages.Build)
		if bd == nil {
			return nil, notFound("builder %s has no build %d", name, num)
		}
		return buildAct(bd, name, r.PathValue("action"), r.PostFormValue("reason"))
	})(w, r)
}

func (u *UI) formCancel(w http.ResponseWriter, r *http.Request) {
	u.form(func(r *http.Request, txn *memdb.Txn) (*act, error) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			return nil, notFound("there is no build request %q", r.PathValue("id"))
		}
		return requestAct(txn, id, r.PostFormValue("reason"))
	})(w, r)
}

func (u *UI) formWorker(w http.ResponseWriter, r *http.Request) {
	u.form(func(r *http.Request, txn *memdb.Txn) (*act, error) {
		name := r.PathValue("name")
		if state.First(txn, state.TableWorkers, state.IndexName, name) == nil {
			return nil, notFound("there is no worker named %q", name)
		}
		return workerAct(name, r.PathValue("action"), r.PostFormValue("reason"))
	})(w, r)
}

func (u *UI) formScheduler(w http.ResponseWriter, r *http.Request) {
	u.form(func(r *http.Request, txn *memdb.Txn) (*act, error) {
		name := r.PathValue("name")
		if state.First(txn, state.TableSchedulers, state.IndexName, name) == nil {
			return nil, notFound("there is no scheduler named %q", name)
		}
		switch r.PathValue("action") {
		case "enable":
			return schedulerAct(name, true), nil
		case "disable":
			return schedulerAct(name, false), nil
		}
		return nil, &httpError{http.StatusNotImplemented, fmt.Sprintf("schedulers have no action %q (enable, disable)", r.PathValue("action"))}
	})(w, r)
}

// formForce takes the force form: scheduler, reason, branch, revision,
// repository, project, codebase, one prop:NAME field per property of the
// scheduler, and more properties as NAME=VALUE lines in props.
func (u *UI) formForce(w http.ResponseWriter, r *http.Request) {
	u.form(func(r *http.Request, _ *memdb.Txn) (*act, error) {
		f := ForceRequest{Properties: map[string]string{}}
		for _, fld := range []struct {
			name string
			to   *string
		}{{"scheduler", &f.Scheduler}, {"reason", &f.Reason}, {"owner", &f.Owner}, {"branch", &f.Branch}, {"revision", &f.Revision},
			{"repository", &f.Repository}, {"project", &f.Project}, {"codebase", &f.Codebase}} {
			*fld.to = r.PostFormValue(fld.name)
		}
		for k, vs := range r.PostForm {
			if name, ok := strings.CutPrefix(k, "prop:"); ok && name != "" {
				f.Properties[name] = vs[0]
			}
		}
		for i, line := range strings.Split(r.PostFormValue("props"), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			k, val, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, badRequest("properties, line %d: %q is not NAME=VALUE", i+1, line)
			}
			f.Properties[strings.TrimSpace(k)] = val
		}
		return forceAct(u.opts.Config(), f, []string{r.PathValue("name")})
	})(w, r)
}
