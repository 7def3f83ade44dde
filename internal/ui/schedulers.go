package ui

import (
	"net/http"
	"strings"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// schedulersPage is the data of templates/schedulers.html: the schedulers
// the state knows, with their configuration.
type schedulersPage struct {
	*view
	Schedulers []*schedulerRow
}

type schedulerRow struct {
	Scheduler *messages.Scheduler
	Config    *messages.SchedulerConfig // nil when no longer configured
}

// Kind is the scheduler's type as the YAML spells it ("force", "single_branch" …).
func (s *schedulerRow) Kind() string {
	if s.Config == nil {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(s.Config.GetType().String(), "SCHEDULER_TYPE_"))
}

// Target names the scheduler for Can.
func (s *schedulerRow) Target() string { return "schedulers/" + s.Scheduler.Name }

func (u *UI) schedulers(_ *http.Request, v *view) (any, error) {
	p := &schedulersPage{view: v}
	cfg := map[string]*messages.SchedulerConfig{}
	for _, s := range v.u.opts.Config().GetSchedulers() {
		cfg[s.GetName()] = s
	}
	for row := range state.ScanIndex(v.txn, state.TableSchedulers, state.IndexName+"_prefix", false) {
		s := row.(*messages.Scheduler)
		p.Schedulers = append(p.Schedulers, &schedulerRow{Scheduler: s, Config: cfg[s.Name]})
	}
	return p, nil
}
