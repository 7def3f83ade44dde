package ui

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// builderPage is the data of templates/builder.html.
type builderPage struct {
	*view
	Builder *messages.Builder
	Running []*running
	Pending []*queued
	History []*historyRow
	// Older is the ?before= of the next page of history, 0 when none.
	Older int32
	// Newer is the ?before= of the previous page, 0 for the newest, -1 when
	// this is the newest page.
	Newer  int32
	Forces []*forceForm
	// Rate is the share of successful builds in History, in percent.
	Rate int
}

type historyRow struct {
	Build  *messages.Build
	Worker string
	Source *source
}

const historyPage = 50

func (u *UI) builder(r *http.Request, v *view) (any, error) {
	name := r.PathValue("name")
	b, _ := state.First(v.txn, state.TableBuilders, state.IndexName, name).(*messages.Builder)
	if b == nil {
		return nil, notFound("there is no builder named %q", name)
	}
	p := &builderPage{view: v, Builder: b, Newer: -1}
	p.Running = v.runningBuilds(func(bd *messages.Build) bool { return bd.Builderid == b.Id })
	pending := map[uint64]bool{}
	for row := range state.ScanIndex(v.txn, state.TableBuildRequests, state.IndexUnclaimed+"_prefix", false, b.Id) {
		pending[row.(*messages.BuildRequest).Id] = true
	}
	p.Pending, _ = v.queue(func(r *messages.BuildRequest) bool { return pending[r.Id] }, 0)

	before := int32(0)
	if s := r.URL.Query().Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 1 {
			return nil, badRequest("before=%q: want a build number ≥ 1", s)
		}
		before = int32(n)
	}
	from := int32(1<<31 - 1)
	if before > 0 {
		from = before - 1
	}
	ok := 0
	for bd := range state.BuildsBefore(v.txn, b.Id, from) {
		if len(p.History) == historyPage {
			p.Older = p.History[len(p.History)-1].Build.Number
			break
		}
		if bd.Results == nil {
			continue // shown under Running
		}
		if bd.GetResults() == state.ResultSuccess {
			ok++
		}
		p.History = append(p.History, &historyRow{Build: bd, Worker: v.WorkerName(bd.Workerid), Source: v.buildSource(bd)})
	}
	if n := len(p.History); n > 0 {
		p.Rate = ok * 100 / n
	}
	if before > 0 {
		p.Newer = 0
		if next := before + historyPage; v.lastNumber(b.Id) >= next {
			p.Newer = next
		}
	}
	p.Forces = forceForms(v.u.opts.Config(), b.Name)
	return p, nil
}

// lastNumber is the number of builder id's newest build, 0 when none.
func (v *view) lastNumber(builderid uint64) int32 {
	raw, err := v.txn.Last(state.TableBuilds, state.IndexBuilderNumber+"_prefix", builderid)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*messages.Build).Number
}

// forceForm is the force form of one force scheduler that lists the builder.
type forceForm struct {
	Scheduler  string
	Properties []forceProp
}

type forceProp struct{ Name, Default string }

// forceForms builds the force forms for builder from cfg's force
// schedulers: the fixed fields (reason, branch, revision, repository,
// project) and one field per property the scheduler sets, its value the
// default.
func forceForms(cfg *messages.MasterConfig, builder string) []*forceForm {
	var out []*forceForm
	for _, s := range cfg.GetSchedulers() {
		if s.GetType() != messages.SchedulerType_SCHEDULER_TYPE_FORCE || !slices.Contains(s.GetBuilders(), builder) {
			continue
		}
		f := &forceForm{Scheduler: s.GetName()}
		for k, val := range s.GetProperties() {
			f.Properties = append(f.Properties, forceProp{Name: k, Default: val})
		}
		slices.SortFunc(f.Properties, func(a, b forceProp) int { return cmp.Compare(a.Name, b.Name) })
		out = append(out, f)
	}
	return out
}
