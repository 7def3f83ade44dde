package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildmaster/buildmaster/internal/report"
)

// newBuilds is `buildmaster builds [BUILDER] [--running] [--follow]`.
func newBuilds() *cobra.Command {
	o := &wwwOptions{}
	var running, follow bool
	var limit int
	cmd := &cobra.Command{
		Use:   "builds [BUILDER] [--running] [--follow]",
		Short: "List the newest builds (of one builder), or only the running ones; --follow prints builds as they start and finish",
		Long: "builds prints a table of the newest builds, newest first: builder, number, result (or \"running\"),\n" +
			"start, duration, worker and status. --follow then prints a line as each build starts and as it\n" +
			"finishes, until interrupted. It reads the master's data API (--www, or $" + WWWEnv + ").",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("builds: --limit %d: want at least 1", limit)}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			l := &buildLister{api: c, names: newNames(c), out: cmd.OutOrStdout(), limit: limit, running: running}
			if len(args) == 1 {
				l.builder = args[0]
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if err := l.table(ctx); err != nil {
				return err
			}
			if !follow {
				return nil
			}
			return l.follow(ctx)
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.BoolVar(&running, "running", false, "only the builds that are running")
	f.BoolVarP(&follow, "follow", "f", false, "then print each build as it starts and finishes, until interrupted")
	f.IntVarP(&limit, "limit", "n", 20, "how many builds the table shows at most")
	return cmd
}

// buildLister prints builds, and follows them.
type buildLister struct {
	api     *dataAPI
	out     io.Writer
	builder string // "" for every builder
	limit   int
	running bool
	names   *names
	// newest is the largest build id seen; open the builds seen running.
	newest uint64
	open   map[uint64]bool
}

// collection is the data API path of the builds listed, with query.
func (l *buildLister) collection(query url.Values) string {
	path := "builds"
	if l.builder != "" {
		path = "builders/" + url.PathEscape(l.builder) + "/builds"
	}
	return path + "?" + query.Encode()
}

// table prints the newest builds: one request for them, then one for the
// names of their builders and one for their workers' (none when there are
// no builds).
func (l *buildLister) table(ctx context.Context) error {
	q := url.Values{"order": {"-buildid"}, "limit": {strconv.Itoa(l.limit)}}
	if l.running {
		q.Set("complete_at", "0")
	}
	builds, err := l.api.builds(ctx, l.collection(q))
	if err != nil {
		return l.explain(err)
	}
	if err := l.names.learn(ctx, builds); err != nil {
		return err
	}
	l.open = map[uint64]bool{}
	if len(builds) > 0 && !l.running {
		l.newest = builds[0].ID // none listed: there are none, newest stays 0
	}
	for _, b := range builds {
		if b.Results == nil {
			l.open[b.ID] = true
		}
	}
	tw := tabwriter.NewWriter(l.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BUILDER\t#\tRESULT\tSTARTED\tDURATION\tWORKER\tSTATUS")
	for _, b := range builds {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", l.names.builder(b.Builderid), b.Number, resultOf(b.Results),
			time.Unix(b.StartedAt, 0).Format("2006-01-02 15:04:05"), duration(b), l.names.worker(b.Workerid), b.StateString)
	}
	return tw.Flush()
}

// newestID is the largest build id there is (0 when none), so that
// following starts after it.
func (l *buildLister) newestID(ctx context.Context) (uint64, error) {
	builds, err := l.api.builds(ctx, l.collection(url.Values{"order": {"-buildid"}, "limit": {"1"}}))
	if err != nil || len(builds) == 0 {
		return 0, l.explain(err)
	}
	return builds[0].ID, nil
}

// follow prints a line for each build that starts or finishes, until ctx
// ends: each round asks for the builds newer than the newest seen and for
// those seen running.
func (l *buildLister) follow(ctx context.Context) error {
	if l.running {
		// The table showed only running builds: start after the newest.
		var err error
		if l.newest, err = l.newestID(ctx); err != nil {
			return err
		}
	}
	for {
		if err := sleep(ctx); err != nil {
			return nil // interrupted: following ends
		}
		builds, err := l.api.builds(ctx, l.collection(url.Values{"buildid__gt": {strconv.FormatUint(l.newest, 10)}, "order": {"buildid"}}))
		if err != nil {
			return l.explain(err)
		}
		if len(l.open) > 0 {
			ids := make([]string, 0, len(l.open))
			for id := range l.open {
				ids = append(ids, strconv.FormatUint(id, 10))
			}
			q := url.Values{"buildid__in": {strings.Join(ids, ",")}, "order": {"buildid"}}
			open, err := l.api.builds(ctx, "builds?"+q.Encode())
			if err != nil {
				return err
			}
			builds = append(open, builds...)
		}
		if err := l.names.learn(ctx, builds); err != nil {
			return err
		}
		for _, b := range builds {
			l.event(b)
		}
	}
}

// event prints what is new about b: that it started, that it finished.
func (l *buildLister) event(b apiBuild) {
	if b.ID > l.newest {
		l.newest = b.ID
		fmt.Fprintf(l.out, "%s  started   %s #%d on %s\n", time.Unix(b.StartedAt, 0).Format("15:04:05"), l.names.builder(b.Builderid),
			b.Number, l.names.worker(b.Workerid))
		l.open[b.ID] = true
	}
	if b.Results != nil && l.open[b.ID] {
		delete(l.open, b.ID)
		fmt.Fprintf(l.out, "%s  finished  %s #%d %s in %s\n", time.Unix(b.CompleteAt, 0).Format("15:04:05"), l.names.builder(b.Builderid),
			b.Number, resultOf(b.Results), duration(b))
	}
}

// explain says which builder is unknown when the data API has none.
func (l *buildLister) explain(err error) error {
	if err != nil && l.builder != "" && isNotFound(err) {
		return &ExitError{Code: ExitRejected, Err: fmt.Errorf("builds: no builder named %q", l.builder)}
	}
	return err
}

// resultOf is Buildbot's name of a result, or "running".
func resultOf(r *int32) string {
	if r == nil {
		return "running"
	}
	return report.Result(*r).String()
}

// duration is how long b ran, or has run so far.
func duration(b apiBuild) string {
	end := b.CompleteAt
	if b.Results == nil || end == 0 {
		end = time.Now().Unix()
	}
	return (time.Duration(max(0, end-b.StartedAt)) * time.Second).String()
}
