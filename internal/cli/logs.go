package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// logChunkLines is how many lines one read of a log asks for.
const logChunkLines = 1000

// newLogs is `buildmaster logs BUILD [STEP] [-f]`.
func newLogs() *cobra.Command {
	o := &wwwOptions{}
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs BUILD [STEP] [-f]",
		Short: "Print the logs of a build (BUILD is a build id or BUILDER/NUMBER), or of one step (by name or number); -f follows them live",
		Long: "logs prints the logs of every step of a build, in order, each after a \"== step N name ==\" line, or\n" +
			"those of one STEP alone. The logs are read a page at a time from the data API's log contents, so a\n" +
			"long log costs little. With -f it follows a running build: it prints the lines as they come and\n" +
			"returns once the build (or STEP) has finished.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			lr := &logReader{api: c, out: cmd.OutOrStdout(), follow: follow}
			build, err := lr.build(ctx, args[0])
			if err != nil {
				return err
			}
			step := ""
			if len(args) == 2 {
				step = args[1]
			}
			return lr.steps(ctx, build, step)
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the running build (or step) until it finishes")
	return cmd
}

// logReader prints logs.
type logReader struct {
	api    *dataAPI
	out    io.Writer
	follow bool
}

// build finds the build named by arg: an id, or BUILDER/NUMBER.
func (r *logReader) build(ctx context.Context, arg string) (apiBuild, error) {
	path := ""
	if builder, number, ok := strings.Cut(arg, "/"); ok {
		n, err := strconv.ParseUint(number, 10, 31)
		if err != nil || builder == "" || n == 0 {
			return apiBuild{}, &ExitError{Code: ExitRejected, Err: fmt.Errorf("logs: BUILD %q: want a build id or BUILDER/NUMBER (e.g. hello/3)", arg)}
		}
		path = "builders/" + url.PathEscape(builder) + "/builds/" + number
	} else {
		if n, err := strconv.ParseUint(arg, 10, 64); err != nil || n == 0 {
			return apiBuild{}, &ExitError{Code: ExitRejected, Err: fmt.Errorf("logs: BUILD %q: want a build id or BUILDER/NUMBER (e.g. hello/3)", arg)}
		}
		path = "builds/" + arg
	}
	builds, err := r.api.builds(ctx, path)
	if isNotFound(err) || (err == nil && len(builds) == 0) {
		return apiBuild{}, &ExitError{Code: ExitRejected, Err: fmt.Errorf("logs: no build %s", arg)}
	}
	if err != nil {
		return apiBuild{}, err
	}
	return builds[0], nil
}

func (r *logReader) stepList(ctx context.Context, build uint64) ([]apiStep, error) {
	var page struct{ Steps []apiStep }
	err := r.api.get(ctx, "builds/"+strconv.FormatUint(build, 10)+"/steps?order=number", &page)
	return page.Steps, err
}

// steps prints the logs of build's steps in order (only the one named or
// numbered want, when want is not ""); following, it waits for steps to
// come until the build has finished.
func (r *logReader) steps(ctx context.Context, build apiBuild, want string) error {
	shown := 0
	for {
		steps, err := r.stepList(ctx, build.ID)
		if err != nil {
			return err
		}
		for ; shown < len(steps); shown++ {
			s := steps[shown]
			switch {
			case want == "":
				fmt.Fprintf(r.out, "== step %d %s ==\n", s.Number, s.Name)
			case want != s.Name && want != strconv.Itoa(int(s.Number)):
				continue
			}
			if err := r.step(ctx, s); err != nil {
				return err
			}
			if want != "" {
				return nil
			}
		}
		// Steps come as the build runs: once it has finished, the list is
		// final and was just printed (or the step wanted is not in it).
		if build.Results != nil || !r.follow {
			if want != "" {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("logs: build %d has no step %q", build.ID, want)}
			}
			return nil
		}
		if err := sleep(ctx); err != nil {
			return err
		}
		b, err := r.api.builds(ctx, "builds/"+strconv.FormatUint(build.ID, 10))
		if err != nil {
			return err
		}
		if len(b) == 1 && b[0].Results != nil {
			// Finished: one more round prints the steps added last.
			build = b[0]
		}
	}
}

// step prints the logs of s; following, until s has finished.
func (r *logReader) step(ctx context.Context, s apiStep) error {
	done := map[uint64]bool{}
	for {
		var page struct{ Logs []apiLog }
		if err := r.api.get(ctx, "steps/"+strconv.FormatUint(s.ID, 10)+"/logs?order=logid", &page); err != nil {
			return err
		}
		for _, l := range page.Logs {
			if done[l.ID] {
				continue
			}
			if len(page.Logs) > 1 {
				fmt.Fprintf(r.out, "-- log %s --\n", l.Name)
			}
			if err := r.log(ctx, l); err != nil {
				return err
			}
			done[l.ID] = true
		}
		if !r.follow || s.Complete {
			return nil
		}
		var st struct{ Steps []apiStep }
		if err := r.api.get(ctx, "steps/"+strconv.FormatUint(s.ID, 10), &st); err != nil {
			return err
		}
		if len(st.Steps) == 1 && st.Steps[0].Complete {
			s = st.Steps[0] // one more round: a log added as the step ended
			continue
		}
		if err := sleep(ctx); err != nil {
			return err
		}
	}
}

// log prints l's lines a chunk at a time; following, until l is complete.
// A stdio log's lines lose their stream prefix (o, e, h).
func (r *logReader) log(ctx context.Context, l apiLog) error {
	var offset int64
	for {
		for offset < l.NumLines {
			var page struct {
				Logchunks []struct{ Content string }
			}
			q := fmt.Sprintf("logs/%d/contents?offset=%d&limit=%d", l.ID, offset, min(logChunkLines, l.NumLines-offset))
			if err := r.api.get(ctx, q, &page); err != nil {
				return err
			}
			if len(page.Logchunks) != 1 || page.Logchunks[0].Content == "" {
				return &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("logs: log %d: no lines from %d", l.ID, offset)}
			}
			for line := range strings.Lines(page.Logchunks[0].Content) {
				if l.Type == "s" && line != "" {
					line = line[1:]
				}
				if _, err := io.WriteString(r.out, line); err != nil {
					return err
				}
				offset++
			}
		}
		if l.Complete || !r.follow {
			return nil
		}
		if err := sleep(ctx); err != nil {
			return err
		}
		var page struct{ Logs []apiLog }
		if err := r.api.get(ctx, "logs/"+strconv.FormatUint(l.ID, 10), &page); err != nil {
			return err
		}
		if len(page.Logs) != 1 {
			return &ExitError{Code: ExitNoMaster, Err: fmt.Errorf("logs: log %d is gone", l.ID)}
		}
		l = page.Logs[0]
	}
}
