package master

import (
	"slices"

	"github.com/buildmaster/buildmaster/internal/report/setup"
	"github.com/buildmaster/buildmaster/messages"
)

// configured is what master masterid running cfg records about itself
// in the state: its schedulers and change sources, its builders (with
// their description and tags), and each worker with the builders that list
// it (Buildbot's builder_masters and configured_workers, which the data API
// shows as a builder's masterids and a worker's configured_on), and its
// reporters with what their generators want, for the outbox.
func configured(masterid uint64, cfg *messages.MasterConfig) *messages.ConfigureMaster {
	c := &messages.ConfigureMaster{Masterid: masterid}
	for _, s := range cfg.GetSchedulers() {
		c.Schedulers = append(c.Schedulers, s.GetName())
	}
	for _, s := range cfg.GetChangeSources() {
		c.ChangeSources = append(c.ChangeSources, s.GetName())
	}
	for _, b := range cfg.GetBuilders() {
		c.Builders = append(c.Builders, &messages.ConfiguredBuilder{Name: b.GetName(), Description: b.GetDescription(),
			Tags: slices.Clone(b.GetTags())})
	}
	for _, w := range cfg.GetWorkers() {
		cw := &messages.ConfiguredWorker{Name: w.GetName()}
		for _, b := range cfg.GetBuilders() {
			if slices.Contains(b.GetWorkers(), w.GetName()) {
				cw.Builders = append(cw.Builders, b.GetName())
			}
		}
		c.Workers = append(c.Workers, cw)
	}
	for _, r := range cfg.GetReporters() {
		gens, err := setup.Generators(r) // validated with the config
		if err != nil {
			continue
		}
		c.Reporters = append(c.Reporters, &messages.ConfiguredReporter{Name: r.GetName(), Generators: gens, OutboxCap: r.GetOutboxCap()})
	}
	return c
}
