package report

import (
	"strconv"

	"github.com/buildmaster/buildmaster/internal/interpolate"
)

// Keywords are the %(kw:…)s every reporter template may use: event,
// buildername, number, result ("running" before the end), state_string,
// url, worker.
func Keywords(r *Report) map[string]string {
	kw := map[string]string{"event": string(r.Event)}
	if b := r.Build; b != nil {
		kw["buildername"] = b.BuilderName
		kw["number"] = strconv.Itoa(int(b.Number))
		kw["result"] = "running"
		if b.Complete {
			kw["result"] = b.Results.String()
		}
		kw["state_string"] = b.StateString
		kw["url"] = b.URL
		kw["worker"] = b.WorkerName
	}
	if w := r.Worker; w != nil {
		kw["worker"] = w.Name
	}
	return kw
}

// Values is what reporter templates are rendered against: the build's
// properties and source stamps (none for a worker report) and Keywords.
func Values(r *Report) interpolate.Values {
	return values{b: r.Build, kw: Keywords(r)}
}

type values struct {
	b  *Build
	kw map[string]string
}

func (v values) Property(name string) (string, bool) {
	if v.b == nil {
		return "", false
	}
	p, ok := v.b.Properties[name]
	return string(p.Value), ok
}

func (v values) Source(codebase, attr string) (string, bool) {
	if v.b == nil {
		return "", false
	}
	for _, ss := range v.b.SourceStamps {
		if ss.Codebase != codebase {
			continue
		}
		switch attr {
		case "codebase":
			return ss.Codebase, true
		case "repository":
			return ss.Repository, true
		case "branch":
			return ss.Branch, true
		case "revision":
			return ss.Revision, true
		case "project":
			return ss.Project, true
		}
		return "", false
	}
	return "", false
}

func (v values) Keyword(name string) (string, bool) {
	s, ok := v.kw[name]
	return s, ok
}
