package ui

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// workersPage is the data of templates/workers.html.
type workersPage struct {
	*view
	Workers   []*workerRow
	Connected int
}

type workerRow struct {
	Worker   *messages.Worker
	Info     []infoItem
	Running  []*running
	Builders int // builders configured to use it
}

// Connected reports whether the worker is connected to a master.
func (w *workerRow) Connected() bool { return len(w.Worker.ConnectedTo) > 0 }

// Target names the worker for Can.
func (w *workerRow) Target() string { return "workers/" + w.Worker.Name }

type infoItem struct{ Key, Value string }

const maxInfoValue = 200

func (u *UI) workers(_ *http.Request, v *view) (any, error) {
	p := &workersPage{view: v}
	byID := map[uint64]*workerRow{}
	for row := range state.ScanIndex(v.txn, state.TableWorkers, state.IndexName+"_prefix", false) {
		w := &workerRow{Worker: row.(*messages.Worker), Info: workerInfo(row.(*messages.Worker).InfoJson)}
		seen := map[uint64]bool{}
		for _, c := range w.Worker.ConfiguredOn {
			if !seen[c.Builderid] {
				seen[c.Builderid] = true
				w.Builders++
			}
		}
		if w.Connected() {
			p.Connected++
		}
		byID[w.Worker.Id] = w
		p.Workers = append(p.Workers, w)
	}
	for _, r := range v.runningBuilds(func(*messages.Build) bool { return true }) {
		if w := byID[r.Build.Workerid]; w != nil {
			w.Running = append(w.Running, r)
		}
	}
	return p, nil
}

// workerInfo renders a worker's info (Buildbot's admin, host, version …)
// as sorted key/value pairs, each value cut to maxInfoValue bytes.
func workerInfo(js string) []infoItem {
	var m map[string]any
	if js == "" || json.Unmarshal([]byte(js), &m) != nil {
		return nil
	}
	out := make([]infoItem, 0, len(m))
	for k, val := range m {
		s, ok := val.(string)
		if !ok {
			b, _ := json.Marshal(val)
			s = string(b)
		}
		if len(s) > maxInfoValue {
			s = firstLine(s[:maxInfoValue])
		}
		out = append(out, infoItem{Key: k, Value: s})
	}
	slices.SortFunc(out, func(a, b infoItem) int { return cmp.Compare(a.Key, b.Key) })
	return out
}
