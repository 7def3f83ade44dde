package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/buildmaster/buildmaster/internal/report"
)

// waitRequests follows the build requests brids until all are complete,
// printing each of their builds as it starts and finishes, then a line per
// request with its result. It returns nil when every request ended
// SUCCESS, an ExitError with ExitRejected otherwise (Buildbot's `buildbot
// try --wait`: 0 only when all succeeded).
func waitRequests(ctx context.Context, api *dataAPI, out io.Writer, brids []uint64) error {
	started, finished := map[uint64]bool{}, map[uint64]bool{}
	names := newNames(api)
	for {
		results := make([]*int32, len(brids))
		complete := true
		for i, brid := range brids {
			id := strconv.FormatUint(brid, 10)
			var page struct{ Buildrequests []apiRequest }
			if err := api.get(ctx, "buildrequests/"+id, &page); err != nil {
				return err
			}
			if len(page.Buildrequests) != 1 {
				return &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("build request %d is gone", brid)}
			}
			r := page.Buildrequests[0]
			builds, err := api.builds(ctx, "buildrequests/"+id+"/builds?order=buildid")
			if err != nil {
				return err
			}
			if err := names.learn(ctx, builds); err != nil {
				return err
			}
			for _, b := range builds {
				if !started[b.ID] {
					started[b.ID] = true
					fmt.Fprintf(out, "build %s #%d started\n", names.builder(b.Builderid), b.Number)
				}
				if b.Results != nil && !finished[b.ID] {
					finished[b.ID] = true
					fmt.Fprintf(out, "build %s #%d finished: %s (%s)\n", names.builder(b.Builderid), b.Number, resultOf(b.Results), duration(b))
				}
			}
			complete = complete && r.Complete
			results[i] = r.Results
		}
		if complete {
			ok := true
			for i, r := range results {
				fmt.Fprintf(out, "build request %d: %s\n", brids[i], resultOf(r))
				ok = ok && r != nil && report.Result(*r) == report.Success
			}
			if !ok {
				return &ExitError{Code: ExitRejected}
			}
			return nil
		}
		if err := sleep(ctx); err != nil {
			return &ExitError{Code: ExitNoMaster, Err: err}
		}
	}
}
