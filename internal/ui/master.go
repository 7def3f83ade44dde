package ui

import (
	"net/http"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// masterPage is the data of templates/master.html.
type masterPage struct {
	*view
	Version  string
	Started  int64
	DebugURL string
	Config   *messages.MasterConfig
	Masters  []*messages.Master
	Rows     []tableRows
	Tree     *messages.TreeNode
	// Reporters, with their backlog, last success and last error.
	Reporters []*messages.ReporterState
}

type tableRows struct {
	Table string
	Rows  int
}

// Uptime is how long the master has run, "" when unknown.
func (p *masterPage) Uptime() string {
	if p.Started == 0 {
		return ""
	}
	return p.Since(p.Started)
}

// summaryTables are the tables whose sizes /master shows.
var summaryTables = []string{state.TableBuilders, state.TableWorkers, state.TableSchedulers, state.TableChanges,
	state.TableBuildsets, state.TableBuildRequests, state.TableBuilds, state.TableSteps, state.TableLogs}

func (u *UI) master(_ *http.Request, v *view) (any, error) {
	o := v.u.opts
	p := &masterPage{view: v, Version: o.Version, DebugURL: o.DebugURL, Config: o.Config()}
	if !o.Started.IsZero() {
		p.Started = o.Started.Unix()
	}
	for row := range state.Scan(v.txn, state.TableMasters, false) {
		p.Masters = append(p.Masters, row.(*messages.Master))
	}
	for _, t := range summaryTables {
		p.Rows = append(p.Rows, tableRows{Table: t, Rows: state.Count(v.txn, t)})
	}
	if o.Tree != nil {
		p.Tree = o.Tree.Tree()
	}
	if o.Reporters != nil {
		p.Reporters = o.Reporters()
	}
	return p, nil
}
