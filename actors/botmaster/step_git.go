package botmaster

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// git checks out the repository into the build directory with real git on
// the worker (clone, or fetch into an existing clone), at the build's
// revision when it has one, and sets got_revision. The repository URL and
// the branch may hold secrets (a token in an https URL).
func (r *runner) git(log *stepLog, g *messages.GitStep) (int32, error) {
	rd := &renderer{r: r}
	repo, branch := rd.s(g.GetRepoUrl()), rd.s(g.GetBranch())
	if rd.err != nil {
		return r.cannotRender(log, rd.err)
	}
	if branch == "" {
		branch = r.props.str("branch")
	}
	rev := r.props.str("revision")
	var script strings.Builder
	script.WriteString("set -e\n")
	if g.GetMode() == "full" {
		script.WriteString("find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +\n")
	}
	ref := "HEAD"
	if branch != "" {
		ref = branch
	}
	fmt.Fprintf(&script, "if [ -d .git ]; then git fetch --tags %s %s && git checkout -f FETCH_HEAD; else git clone %s . ", quote(repo), quote(ref), quote(repo))
	if branch != "" {
		fmt.Fprintf(&script, "--branch %s", quote(branch))
	}
	script.WriteString("; fi\n")
	if rev != "" {
		fmt.Fprintf(&script, "git checkout -f %s\n", quote(rev))
	}
	script.WriteString("git rev-parse HEAD\n")
	c, stdout, err := r.command(log, &messages.StartCommand{Command: &messages.StartCommand_Shell{Shell: &messages.ShellCommand{
		Script: script.String(), Workdir: r.workdir(""), Timeout: durationpb.New(DefaultTimeout)}}})
	if err != nil {
		return 0, err
	}
	results := commandResults(c, nil)
	if results == state.ResultSuccess {
		lines := strings.Fields(string(stdout))
		if len(lines) > 0 {
			got := lines[len(lines)-1]
			r.props.set("got_revision", jsonString(got), "Git")
			if _, err := r.call(&messages.Command{Kind: &messages.Command_SetBuildProperties{SetBuildProperties: &messages.SetBuildProperties{
				Buildid: r.buildid, Properties: []*messages.Property{r.props.get("got_revision")}}}}); err != nil {
				return 0, err
			}
		}
	}
	return results, nil
}
