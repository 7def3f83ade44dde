package report

import (
	"fmt"

	"github.com/buildmaster/buildmaster/internal/interpolate"
)

// DefaultStatusContext is Buildbot's default context (GitHub) or name
// (GitLab) of a commit status.
const DefaultStatusContext = "buildbot/%(prop:buildername)s"

// StatusText is what the commit status reporters render for a build: the
// status context and the description on start and on end.
type StatusText struct {
	context, start, end *interpolate.Template
}

// ParseStatusText parses the three templates (see internal/interpolate);
// empty ones get Buildbot's defaults: DefaultStatusContext, "Build
// started." and "Build done.".
func ParseStatusText(context, startDescription, endDescription string) (StatusText, error) {
	var t StatusText
	for _, f := range []struct {
		name, src, def string
		dst            **interpolate.Template
	}{
		{"context", context, DefaultStatusContext, &t.context},
		{"start_description", startDescription, "Build started.", &t.start},
		{"end_description", endDescription, "Build done.", &t.end},
	} {
		if f.src == "" {
			f.src = f.def
		}
		var err error
		if *f.dst, err = interpolate.Parse(f.src); err != nil {
			return StatusText{}, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return t, nil
}

// Render returns the context and the description for r's build.
func (t StatusText) Render(r *Report) (context, description string) {
	v := Values(r)
	desc := t.end
	if r.Build == nil || !r.Build.Complete {
		desc = t.start
	}
	return t.context.Render(v), desc.Render(v)
}
