package cli

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxNamesIn is how many ids one names lookup asks for by id; past it, the
// lookup fetches every name (one page instead of a very long query).
const maxNamesIn = 100

// names are the names of builders and workers by id, as the builds shown
// refer to them. Only the ids of those builds are asked for, so that
// listing 20 builds of a master of 1,000 builders fetches 20 names at most,
// not 1,000.
type names struct {
	api      *dataAPI
	builders map[uint64]string // "" for an id asked for that has none
	workers  map[uint64]string
}

func newNames(api *dataAPI) *names {
	return &names{api: api, builders: map[uint64]string{}, workers: map[uint64]string{}}
}

// learn fetches the names of the builders and workers of builds not asked
// for yet: one request for the builders and one for the workers, each only
// when some are new.
func (n *names) learn(ctx context.Context, builds []apiBuild) error {
	var builders, workers []uint64
	for _, b := range builds {
		if _, ok := n.builders[b.Builderid]; !ok && !slices.Contains(builders, b.Builderid) {
			builders = append(builders, b.Builderid)
		}
		if _, ok := n.workers[b.Workerid]; !ok && b.Workerid != 0 && !slices.Contains(workers, b.Workerid) {
			workers = append(workers, b.Workerid)
		}
	}
	if err := n.fetch(ctx, "builders", "builderid", builders, n.builders); err != nil {
		return err
	}
	return n.fetch(ctx, "workers", "workerid", workers, n.workers)
}

// fetch asks the collection for the names of ids (every name when there
// are more than maxNamesIn) into into; ids without one are noted as "".
func (n *names) fetch(ctx context.Context, collection, idField string, ids []uint64, into map[uint64]string) error {
	if len(ids) == 0 {
		return nil
	}
	q := url.Values{"field": {idField, "name"}}
	if len(ids) <= maxNamesIn {
		in := make([]string, len(ids))
		for i, id := range ids {
			in[i] = strconv.FormatUint(id, 10)
		}
		q.Set(idField+"__in", strings.Join(in, ","))
	}
	var page struct{ Builders, Workers []named }
	if err := n.api.get(ctx, collection+"?"+q.Encode(), &page); err != nil {
		return err
	}
	for _, id := range ids {
		into[id] = ""
	}
	for _, r := range page.Builders {
		into[r.Builderid] = r.Name
	}
	for _, r := range page.Workers {
		into[r.Workerid] = r.Name
	}
	return nil
}

// builder is the name of the builder id, or "builder ID" when it has none.
func (n *names) builder(id uint64) string {
	if s := n.builders[id]; s != "" {
		return s
	}
	return "builder " + strconv.FormatUint(id, 10)
}

// worker is the name of the worker id ("" when it has none).
func (n *names) worker(id uint64) string { return n.workers[id] }
