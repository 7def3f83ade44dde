package httppush

import (
	"encoding/json"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
)

// build is Buildbot's build dictionary as HttpStatusPush posts it (times
// in Unix seconds, results null while running, properties as
// [value, source]), plus "event".
type build struct {
	Event       string            `json:"event"`
	BuildID     uint64            `json:"buildid"`
	Number      int32             `json:"number"`
	BuilderID   uint64            `json:"builderid"`
	Builder     builder           `json:"builder"`
	StartedAt   *int64            `json:"started_at"`
	CompleteAt  *int64            `json:"complete_at"`
	Complete    bool              `json:"complete"`
	StateString string            `json:"state_string"`
	Results     *report.Result    `json:"results"`
	Properties  map[string][2]any `json:"properties"`
	Buildset    buildset          `json:"buildset"`
	URL         string            `json:"url"`
}

type builder struct {
	BuilderID uint64   `json:"builderid"`
	Name      string   `json:"name"`
	Tags      []string `json:"tags"`
}

type buildset struct {
	SourceStamps []sourcestamp `json:"sourcestamps"`
}

type sourcestamp struct {
	Branch     string `json:"branch"`
	Revision   string `json:"revision"`
	Project    string `json:"project"`
	Repository string `json:"repository"`
	Codebase   string `json:"codebase"`
}

// eventName names the event as Buildbot's event keys do.
func eventName(e report.Event) string {
	switch e {
	case report.EventBuildStarted:
		return "new"
	case report.EventBuildFinished:
		return "finished"
	}
	return string(e)
}

// Body is the JSON posted for a build report.
func Body(r *report.Report) ([]byte, error) {
	b := r.Build
	out := build{
		Event: eventName(r.Event), BuildID: b.BuildID, Number: b.Number, BuilderID: b.BuilderID,
		Builder:    builder{BuilderID: b.BuilderID, Name: b.BuilderName, Tags: b.Tags},
		StartedAt:  epoch(b.StartedAt),
		CompleteAt: epoch(b.CompleteAt),
		Complete:   b.Complete, StateString: b.StateString, URL: b.URL,
		Properties: make(map[string][2]any, len(b.Properties)),
		Buildset:   buildset{SourceStamps: make([]sourcestamp, 0, len(b.SourceStamps))},
	}
	if out.Builder.Tags == nil {
		out.Builder.Tags = []string{}
	}
	if b.Complete {
		res := b.Results
		out.Results = &res
	}
	for k, p := range b.Properties {
		var v any = p.Value
		if len(p.Value) == 0 {
			v = nil
		}
		out.Properties[k] = [2]any{v, p.Source}
	}
	for _, ss := range b.SourceStamps {
		out.Buildset.SourceStamps = append(out.Buildset.SourceStamps, sourcestamp{Branch: ss.Branch,
			Revision: ss.Revision, Project: ss.Project, Repository: ss.Repository, Codebase: ss.Codebase})
	}
	return json.Marshal(out)
}

func epoch(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	s := t.Unix()
	return &s
}
