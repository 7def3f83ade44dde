package mail

import (
	htmltemplate "html/template"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/buildmaster/buildmaster/internal/report"
)

// The bodies follow Buildbot's default MessageFormatter and
// MessageFormatterMissingWorker templates, with the failing step's last
// log lines added.
const (
	buildPlain = `A {{.StatusDetected}} has been detected on builder {{.BuilderName}} while building {{.Projects}}.

Full details are available at:
    {{.BuildURL}}

Build state: {{.StateString}}
Revision: {{.Revision}}
Worker: {{.Worker}}
Build Reason: {{.Reason}}
Blamelist: {{.Blamelist}}

Steps:
{{range .Steps}}
- {{.Number}}: {{.Name}} ( {{.Result}} )
{{- else}}
- (no steps)
{{- end}}
{{with .Failed}}
The last lines of the {{.LogName}} log of step {{.Name}}{{with .LogURL}} ({{.}}){{end}}:

{{range .LogTail}}    {{.}}
{{end}}{{end}}`

	buildHTML = `<p>A {{.StatusDetected}} has been detected on builder
<a href="{{.BuildURL}}">{{.BuilderName}}</a>
while building {{.Projects}}.</p>
<p>Information:</p>
<ul>
    <li>Build state: {{.StateString}}</li>
    <li>Revision: {{.Revision}}</li>
    <li>Worker: {{.Worker}}</li>
    <li>Build Reason: {{.Reason}}</li>
    <li>Blamelist: {{.Blamelist}}</li>
</ul>
<p>Steps:</p>
<ul>
{{- range .Steps}}
    <li style="{{.Style}}">{{.Number}}: {{.Name}} ( {{.Result}} )</li>
{{- else}}
    <li>No steps</li>
{{- end}}
</ul>
{{- with .Failed}}
<p>The last lines of the {{.LogName}} log of step {{if .LogURL}}<a href="{{.LogURL}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}:</p>
<pre>{{range .LogTail}}{{.}}
{{end}}</pre>
{{- end}}
`

	workerPlain = `The Buildbot worker named {{.Name}} went away.

It last disconnected at {{.LastConnection}}.
{{with .Admin}}
The admin on record (as reported by WORKER:info/admin) was {{.}}.
{{end}}`

	workerHTML = `<p>The Buildbot worker named {{.Name}} went away.</p>
<p>It last disconnected at {{.LastConnection}}.</p>
{{- with .Admin}}
<p>The admin on record (as reported by WORKER:info/admin) was {{.}}.</p>
{{- end}}
`
)

type templates struct {
	buildPlain, workerPlain *template.Template
	buildHTML, workerHTML   *htmltemplate.Template
}

func parseTemplates() templates {
	return templates{
		buildPlain:  template.Must(template.New("build").Parse(buildPlain)),
		workerPlain: template.Must(template.New("worker").Parse(workerPlain)),
		buildHTML:   htmltemplate.Must(htmltemplate.New("build").Parse(buildHTML)),
		workerHTML:  htmltemplate.Must(htmltemplate.New("worker").Parse(workerHTML)),
	}
}

type buildData struct {
	StatusDetected, BuilderName, Projects, BuildURL  string
	StateString, Revision, Worker, Reason, Blamelist string
	Steps                                            []stepData
	Failed                                           *report.FailedStep
}

type stepData struct {
	Number int32
	Name   string
	Result string
	Style  htmltemplate.CSS
}

type workerData struct {
	Name, LastConnection, Admin string
}

// resultStyles are Buildbot's colours for step results in HTML mails.
func resultStyle(r report.Result) htmltemplate.CSS {
	switch r {
	case report.Exception:
		return "color: #f0f; font-weight: bold;"
	case report.Failure:
		return "color: #f00; font-weight: bold;"
	case report.Retry, report.Skipped, report.Cancelled:
		return "color: #4af;"
	case report.Warnings:
		return "color: #f80;"
	}
	return ""
}

func newBuildData(b *report.Build, title string) buildData {
	d := buildData{
		StatusDetected: statusDetected(b), BuilderName: b.BuilderName, Projects: projects(b, title),
		BuildURL: b.URL, StateString: b.StateString, Revision: orDefault(b.PropertyString("got_revision"), "(unknown)"),
		Worker: orDefault(b.WorkerName, "<unknown>"), Reason: orDefault(b.PropertyString("reason"), "(unknown)"),
		Blamelist: strings.Join(blamelist(b), ", "), Failed: b.FailedStep,
	}
	for _, s := range b.Steps {
		d.Steps = append(d.Steps, stepData{Number: s.Number, Name: s.Name, Result: s.Results.String(), Style: resultStyle(s.Results)})
	}
	return d
}

// statusDetected is Buildbot's get_detected_status_text, with "change"
// judged from the previous build whenever the caller gave one.
func statusDetected(b *report.Build) string {
	if !b.Complete {
		return "started build"
	}
	prev := b.Previous
	switch b.Results {
	case report.Failure:
		if prev != nil && prev.Results != report.Failure {
			return "new failure"
		}
		return "failed build"
	case report.Warnings:
		return "problem in the build"
	case report.Success:
		if prev != nil && prev.Results != report.Success {
			return "restored build"
		}
		return "passing build"
	case report.Exception:
		return "build exception"
	}
	return b.Results.String() + " build"
}

// projects is Buildbot's get_projects_text: the source stamps' projects,
// or the master's title.
func projects(b *report.Build, title string) string {
	var ps []string
	for _, ss := range b.SourceStamps {
		if ss.Project != "" {
			ps = append(ps, ss.Project)
		}
	}
	if len(ps) == 0 {
		return title
	}
	slices.Sort(ps)
	return strings.Join(slices.Compact(ps), ", ")
}

// buildSubject is Buildbot's default subject:
// "☠ Buildbot (TITLE): BUILDER - STATE (BRANCH or got_revision)".
func buildSubject(b *report.Build, title string) string {
	mark := "☝"
	if b.Complete && b.Results == report.Failure {
		mark = "☠"
	} else if b.Complete && b.Results == report.Success {
		mark = "☺"
	}
	ref := b.PropertyString("branch")
	if ref == "" {
		ref = orDefault(b.PropertyString("got_revision"), "(unknown revision)")
	}
	return mark + " Buildbot (" + title + "): " + b.BuilderName + " - " + b.StateString + " (" + ref + ")"
}

func newWorkerData(w *report.Worker) workerData {
	d := workerData{Name: w.Name, LastConnection: "(unknown)", Admin: w.Admin}
	if !w.LastConnection.IsZero() {
		d.LastConnection = w.LastConnection.UTC().Format(time.RFC1123)
	}
	return d
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
