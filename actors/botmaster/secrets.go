package botmaster

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/buildmaster/buildmaster/internal/secrets"
	"github.com/buildmaster/buildmaster/internal/state"
)

// render renders one argument of the running step, as Buildbot renders a
// step's renderables: each %(secret:NAME)s from the runtime's secret
// providers, the text around them with the build's properties (so neither
// rendering sees the other's output). The values used are recorded
// (RenderedSecrets), so that the step's output, the master's log and the
// HTTP answers redact them from then on. Its error names the secret and
// the step, never a value.
func (r *runner) render(tmpl string) (string, error) {
	if !strings.Contains(tmpl, "%(secret:") {
		return r.props.interpolate(tmpl), nil
	}
	out, used, err := secrets.Render(r.ctx, r.rt.Secrets().Provider, tmpl, secrets.RenderOptions{
		Where: fmt.Sprintf("step %q of builder %q", r.stepName, r.cfg.GetName()), Literal: r.props.interpolate})
	if err != nil {
		return "", err
	}
	r.rt.RenderedSecrets(used)
	return out, nil
}

// renderer renders several arguments of a step and keeps the first error.
type renderer struct {
	r   *runner
	err error
}

func (x *renderer) s(tmpl string) string {
	if x.err != nil {
		return ""
	}
	v, err := x.r.render(tmpl)
	x.err = err
	return v
}

// cannotRender ends a step whose arguments could not be rendered (a
// secret missing, a provider failing) as EXCEPTION, as Buildbot does,
// with the reason in its log and the master's.
func (r *runner) cannotRender(log *stepLog, err error) (int32, error) {
	r.log.Warn("step cannot run", slog.Uint64("buildid", r.buildid), slog.String("step", r.stepName), slog.Any("error", err))
	return state.ResultException, log.header(err.Error())
}
