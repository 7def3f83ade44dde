package ui

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// buildPage is the data of templates/build.html.
type buildPage struct {
	*view
	Builder  *messages.Builder
	Build    *messages.Build
	Source   *source
	Worker   string
	Expected int64
	Steps    []*stepRow
	Props    []*messages.Property
	Changes  []*messages.Change
	Prev     int32 // the previous build's number, 0 when none
	Next     int32
	Log      *logView
	// DefaultLog is the log shown without ?log= (the running step's, else
	// the first failed step's); live.js switches to it when it changes.
	DefaultLog uint64
}

// Target names the build for Can.
func (p *buildPage) Target() string {
	return fmt.Sprintf("builders/%s/builds/%d", p.Builder.Name, p.Build.Number)
}

// ETA is when the build is expected to end, 0 when unknown or finished.
func (p *buildPage) ETA() int64 {
	if p.Expected == 0 || p.Build.Results != nil {
		return 0
	}
	return p.Build.StartedAt + p.Expected
}

type stepRow struct {
	Step *messages.Step
	Logs []*messages.Log
	Base string // the build page's URL without a log
}

// LogURL is the build page showing log l of this step.
func (s *stepRow) LogURL(l *messages.Log) string {
	return s.Base + "?step=" + strconv.Itoa(int(s.Step.Number)) + "&log=" + url.QueryEscape(l.Slug)
}

const maxBuildChanges = 50

// buildPage serves /builders/NAME/builds/N: the page, its fragments, the
// log lines fragment (?fragment=lines&from=L), and ?find=error, which
// redirects to the page holding the log's first error line.
func (u *UI) buildPage(w http.ResponseWriter, r *http.Request) {
	v := u.newView(r, "build")
	defer v.txn.Abort()
	p, err := u.loadBuild(r, v)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	switch {
	case q.Get("fragment") == "lines":
		u.serveLines(w, r, v, p)
		return
	case q.Get("find") == "error" && p.Log != nil:
		n, err := u.errors.first(r.Context(), p.Log.Log)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		if n < 0 {
			p.Log.NoError = true
			break
		}
		from := max(0, n-20)
		http.Redirect(w, r, p.Log.Page(from)+"&error="+strconv.FormatInt(n, 10)+"#L"+strconv.FormatInt(n+1, 10), http.StatusSeeOther)
		return
	}
	u.render(w, r, "build", p)
}

func (u *UI) loadBuild(r *http.Request, v *view) (*buildPage, error) {
	name := r.PathValue("name")
	b, _ := state.First(v.txn, state.TableBuilders, state.IndexName, name).(*messages.Builder)
	if b == nil {
		return nil, notFound("there is no builder named %q", name)
	}
	num, err := strconv.ParseInt(r.PathValue("number"), 10, 32)
	if err != nil {
		return nil, badRequest("build number %q is not a number", r.PathValue("number"))
	}
	bd, _ := state.First(v.txn, state.TableBuilds, state.IndexBuilderNumber, b.Id, int32(num)).(*messages.Build)
	if bd == nil {
		return nil, notFound("builder %s has no build %d", name, num)
	}
	p := &buildPage{view: v, Builder: b, Build: bd, Source: v.buildSource(bd), Worker: v.WorkerName(bd.Workerid), Expected: v.expected(b.Id)}
	if bd.Number > 1 {
		p.Prev = bd.Number - 1
	}
	if v.lastNumber(b.Id) > bd.Number {
		p.Next = bd.Number + 1
	}
	p.Props = slices.SortedFunc(slices.Values(bd.Properties), func(a, b *messages.Property) int { return cmp.Compare(a.Name, b.Name) })
	for _, ssid := range p.Source.stampIDs {
		for row := range state.ScanIndex(v.txn, state.TableChanges, state.IndexChangeSourceStamp, false, ssid) {
			if len(p.Changes) < maxBuildChanges {
				p.Changes = append(p.Changes, row.(*messages.Change))
			}
		}
	}
	base := fmt.Sprintf("/builders/%s/builds/%d", url.PathEscape(b.Name), bd.Number)
	var running, failed *stepRow
	for row := range state.ScanIndex(v.txn, state.TableSteps, state.IndexBuildNumber+"_prefix", false, bd.Id) {
		s := &stepRow{Step: row.(*messages.Step), Base: base}
		for l := range state.ScanIndex(v.txn, state.TableLogs, state.IndexStep, false, s.Step.Id) {
			s.Logs = append(s.Logs, l.(*messages.Log))
		}
		p.Steps = append(p.Steps, s)
		if len(s.Logs) == 0 {
			continue
		}
		if running == nil && s.Step.Results == nil && s.Step.StartedAt != 0 {
			running = s
		}
		if failed == nil && s.Step.Results != nil && (s.Step.GetResults() == state.ResultFailure || s.Step.GetResults() == state.ResultException) {
			failed = s
		}
	}
	chosen := cmp.Or(running, failed)
	if chosen != nil {
		p.DefaultLog = chosen.Logs[0].Id
	}
	q := r.URL.Query()
	var log *messages.Log
	if q.Has("log") || q.Has("step") {
		chosen, log = nil, nil
		n, err := strconv.Atoi(q.Get("step"))
		for _, s := range p.Steps {
			if err == nil && int(s.Step.Number) == n {
				chosen = s
			}
		}
		if chosen == nil {
			return nil, notFound("build %d of %s has no step %q", bd.Number, name, q.Get("step"))
		}
		for _, l := range chosen.Logs {
			if l.Slug == q.Get("log") {
				log = l
			}
		}
		if log == nil {
			return nil, notFound("step %d of build %d of %s has no log %q", chosen.Step.Number, bd.Number, name, q.Get("log"))
		}
	} else if chosen != nil {
		log = chosen.Logs[0]
	}
	if log != nil {
		lv, err := v.logView(q, b.Name, bd.Number, chosen.Step, log, q.Get("fragment") != "lines")
		if err != nil {
			return nil, err
		}
		p.Log = lv
	}
	return p, nil
}

// logView pages log by ?from= (the last lines without it) and highlights
// ?error=; it renders the page's lines when render is set.
func (v *view) logView(q url.Values, builder string, number int32, step *messages.Step, log *messages.Log, render bool) (*logView, error) {
	lv := &logView{Log: log, Step: step, Error: -1, Base: logBase(builder, number, step, log)}
	lv.From = max(0, log.NumLines-pageLines)
	if s := q.Get("from"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, badRequest("from=%q: want a line number ≥ 0", s)
		}
		lv.From = min(n, max(0, log.NumLines-1))
	}
	if s := q.Get("error"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			lv.Error = n
		}
	}
	if !render {
		return lv, nil
	}
	lines, n, err := renderLines(v.r.Context(), v.u.opts.Logs, log, lv.From, pageLines, lv.Error)
	if err != nil {
		return nil, err
	}
	lv.Lines, lv.To = lines, lv.From+n
	return lv, nil
}

// serveLines answers the lines of the shown log from ?from= (at most
// fetchLines), with X-Next-Line (the line after them) and X-Log-Complete.
func (u *UI) serveLines(w http.ResponseWriter, r *http.Request, v *view, p *buildPage) {
	if p.Log == nil {
		u.fail(w, r, badRequest("fragment=lines needs step= and log="))
		return
	}
	from, err := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	if err != nil || from < 0 {
		u.fail(w, r, badRequest("from=%q: want a line number ≥ 0", r.URL.Query().Get("from")))
		return
	}
	lines, n, err := renderLines(r.Context(), u.opts.Logs, p.Log.Log, from, fetchLines, -1)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Next-Line", strconv.FormatInt(from+n, 10))
	h.Set("X-Log-Complete", strconv.FormatBool(p.Log.Log.Complete && from+n >= p.Log.Log.NumLines))
	securityHeaders(h)
	_, _ = w.Write([]byte(lines))
}

// buildByID redirects /builds/ID to the build's page.
func (u *UI) buildByID(w http.ResponseWriter, r *http.Request) {
	txn := u.opts.State.Read()
	defer txn.Abort()
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	bd, _ := state.Lookup(txn, state.TableBuilds, id).(*messages.Build)
	if err != nil || bd == nil {
		u.fail(w, r, notFound("there is no build with id %q", r.PathValue("id")))
		return
	}
	b, _ := state.Lookup(txn, state.TableBuilders, bd.Builderid).(*messages.Builder)
	http.Redirect(w, r, fmt.Sprintf("/builders/%s/builds/%d", url.PathEscape(b.GetName()), bd.Number), http.StatusFound)
}
