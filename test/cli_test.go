package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// env is the environment that points the client commands at m, so that
// they need no flags.
func (m *master) env() []string {
	return append(clientEnv(), "BUILDMASTER_MASTER="+m.remote, "BUILDMASTER_WWW=http://"+m.www, "BUILDMASTER_TOKEN="+m.token)
}

// runEnv runs the binary with args in env; it returns stdout, stderr and
// the exit code.
func runEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

// startEnv starts the binary with args in env, its stdout read as lines;
// wait returns its exit code once it has ended.
func startEnv(t *testing.T, env []string, args ...string) (out *lines, wait func() int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	out = newLines(stdout, nil)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return out, func() int {
		<-done
		return cmd.ProcessState.ExitCode()
	}
}

// TestForceWaitBuildsAndLogs: with BUILDMASTER_MASTER, BUILDMASTER_WWW and
// BUILDMASTER_TOKEN set, force --wait, builds and logs need no flags;
// force --wait exits with the build's result, as buildbot try --wait; and
// /metrics counts the builds (checkMetrics).
func TestForceWaitBuildsAndLogs(t *testing.T) {
	t.Parallel()
	m := startMaster(t, buildsConfig)
	startWorker(t, m, "w1", "pw1")
	env := m.env()

	out, errOut, code := runEnv(t, env, "force", "hello", "--wait")
	if code != 0 || !strings.Contains(out, "build hello #1 started\n") || !strings.Contains(out, "build hello #1 finished: success") ||
		!strings.Contains(out, "build request 1: success\n") {
		t.Fatalf("force hello --wait: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runEnv(t, env, "force", "failing", "-w")
	if code != 1 || !strings.Contains(out, "build failing #1 finished: failure") || !strings.Contains(out, "build request 2: failure\n") {
		t.Fatalf("force failing --wait: exit %d, want 1\n%s%s", code, out, errOut)
	}

	out, errOut, code = runEnv(t, env, "builds")
	rows := regexp.MustCompile(`(?m)^(\S+)\s+(\d+)\s+(\S+)\s`).FindAllStringSubmatch(out, -1)
	if code != 0 || !strings.HasPrefix(out, "BUILDER  #  RESULT   STARTED") || len(rows) != 2 || rows[0][1] != "failing" ||
		rows[0][3] != "failure" || rows[1][1] != "hello" || rows[1][3] != "success" || !strings.Contains(out, " w1 ") {
		t.Fatalf("builds: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runEnv(t, env, "builds", "hello"); code != 0 || strings.Contains(out, "failing") || !strings.Contains(out, "hello") {
		t.Fatalf("builds hello: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runEnv(t, env, "builds", "--running"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("builds --running with none running: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runEnv(t, env, "builds", "nosuch"); code != 1 || !strings.Contains(errOut, `no builder named "nosuch"`) {
		t.Fatalf("builds nosuch: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = runEnv(t, env, "logs", "hello/1")
	if code != 0 || !strings.Contains(out, "== step 1 say ==\n") || !strings.Contains(out, "hello from build on w1\n") ||
		!strings.Contains(out, "to-stderr\n") || !strings.Contains(out, "who=hello-1\n") {
		t.Fatalf("logs hello/1: exit %d\n%s%s", code, out, errOut)
	}
	b := m.waitBuild("failing", 1)
	out, errOut, code = runEnv(t, env, "logs", strconv.FormatUint(b.Buildid, 10), "boom")
	if code != 0 || strings.Contains(out, "== step") || !strings.Contains(out, "about to fail\n") || strings.Contains(out, "first\n") {
		t.Fatalf("logs %d boom: exit %d\n%s%s", b.Buildid, code, out, errOut)
	}
	for _, bad := range [][]string{{"logs", "hello/9"}, {"logs", "x/y"}, {"logs", "hello/1", "nosuch"}} {
		if out, errOut, code = runEnv(t, env, bad...); code != 1 || !strings.Contains(errOut, "buildmaster: logs: ") {
			t.Fatalf("%v: exit %d, want 1\n%s%s", bad, code, out, errOut)
		}
	}

	// A flag overrides its variable; a variable naming no master fails
	// with exit 2 and says where it looked.
	refusing := testkit.RefusingAddr(t)
	bad := append(m.env(), "BUILDMASTER_MASTER="+refusing, "BUILDMASTER_WWW=http://"+refusing)
	if out, errOut, code = runEnv(t, bad, "builds", "--www", "http://"+m.www); code != 0 || !strings.Contains(out, "hello") {
		t.Fatalf("builds --www over a bad $BUILDMASTER_WWW: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runEnv(t, bad, "tree", "--master", m.remote); code != 0 || !strings.Contains(out, "generation 1") {
		t.Fatalf("tree --master over a bad $BUILDMASTER_MASTER: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runEnv(t, bad, "tree"); code != 2 || !strings.Contains(errOut, refusing) || !strings.Contains(errOut, "$BUILDMASTER_MASTER") {
		t.Fatalf("tree with a bad $BUILDMASTER_MASTER: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runEnv(t, bad, "builds"); code != 2 || !strings.Contains(errOut, "$BUILDMASTER_WWW") {
		t.Fatalf("builds with a bad $BUILDMASTER_WWW: exit %d\n%s%s", code, out, errOut)
	}
	checkMetrics(t, m)
}

// TestFollow: logs -f prints a running step's lines as they come and ends
// when the build ends; builds --follow prints builds as they start and
// finish.
func TestFollow(t *testing.T) {
	t.Parallel()
	gate := filepath.Join(t.TempDir(), "gate")
	m := startMaster(t, strings.ReplaceAll(slowConfig, "GATE", gate))
	startWorker(t, m, "w1", "pw1")
	env := m.env()

	builds, _ := startEnv(t, env, "builds", "--follow")
	builds.waitFor(t, 0, `^BUILDER`)
	m.force("slow")
	m.waitStepLog("slow", 1, "wait", "started on w1")
	logs, logsDone := startEnv(t, env, "logs", "-f", "slow/1")
	at := logs.waitFor(t, 0, `^started on w1$`)
	builds.waitFor(t, 0, `started\s+slow #1 on w1$`)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := logsDone(); code != 0 {
		t.Fatalf("logs -f: exit %d\n%s", code, strings.Join(logs.snapshot(), "\n"))
	}
	got := strings.Join(logs.snapshot()[at:], "\n")
	for _, want := range []string{"finished", "== step 2 after ==", "after", "== step 3 cleanup ==", "cleanup"} {
		if !strings.Contains(got, want) {
			t.Fatalf("logs -f: no %q after the gate opened:\n%s", want, got)
		}
	}
	builds.waitFor(t, 0, `finished\s+slow #1 success in `)
}

// TestVersion: version prints the binary's version and Go's.
func TestVersion(t *testing.T) {
	t.Parallel()
	out, errOut, code := run(t, "version")
	if code != 0 || !regexp.MustCompile(`^buildmaster \S+.* go1\.\d+`).MatchString(out) {
		t.Fatalf("version: exit %d\n%s%s", code, out, errOut)
	}
}

// checkMetrics: /metrics on the debug listener counts the builds forced
// by TestForceWaitBuildsAndLogs (hello succeeded, failing failed), their
// durations, waits and log bytes, and shows the connected worker.
func checkMetrics(t *testing.T, m *master) {
	t.Helper()
	want := []string{
		`buildmaster_builds_started_total{builder="failing"} 1`,
		`buildmaster_builds_finished_total{builder="failing",result="failure"} 1`,
		`buildmaster_builds_finished_total{builder="hello",result="success"} 1`,
		`buildmaster_build_duration_seconds_count{result="failure"} 1`,
		`buildmaster_step_duration_seconds_count{result="failure"} 1`,
		`buildmaster_buildrequest_wait_seconds_count 2`,
		`buildmaster_buildrequests_pending 0`,
		`buildmaster_builds_running 0`,
		`buildmaster_workers{state="connected"} 1`,
		`buildmaster_workers{state="paused"} 0`,
		`buildmaster_websocket_clients 0`,
		`buildmaster_changes_total 0`,
	}
	testkit.Retry(t, func() error {
		body, err := scrape(m.debug)
		if err != nil {
			return err
		}
		for _, w := range want {
			if !strings.Contains(body, "\n"+w+"\n") {
				return errors.New("/metrics has no line " + w + ":\n" + body)
			}
		}
		if metricSamples(body, "buildmaster_log_bytes_total")[""] <= 0 {
			return errors.New("/metrics counts no log bytes:\n" + body)
		}
		return nil
	})
}

// TestBuildsAsksOnlyForWhatItShows: builds asks the data API for the
// builds it lists, then for the names of those builds' builders and
// workers by id (not every builder's and worker's name), and for nothing
// more when it lists none. A recording proxy in front of the master's www
// listener sees the requests.
func TestBuildsAsksOnlyForWhatItShows(t *testing.T) {
	t.Parallel()
	m := startMaster(t, buildsConfig)
	startWorker(t, m, "w1", "pw1")
	if out, errOut, code := runEnv(t, m.env(), "force", "hello", "--wait"); code != 0 {
		t.Fatalf("force hello --wait: exit %d\n%s%s", code, out, errOut)
	}
	// The ids of builder hello and worker w1.
	var page struct {
		Builders []struct{ Builderid uint64 }
		Workers  []struct{ Workerid uint64 }
	}
	for _, path := range []string{"/api/v2/builders/hello", "/api/v2/workers/w1"} {
		if _, body := m.wwwGet(path); json.Unmarshal(body, &page) != nil {
			t.Fatalf("%s: %s", path, body)
		}
	}
	if len(page.Builders) != 1 || len(page.Workers) != 1 {
		t.Fatalf("builder hello %v, worker w1 %v", page.Builders, page.Workers)
	}
	builderid, workerid := strconv.FormatUint(page.Builders[0].Builderid, 10), strconv.FormatUint(page.Workers[0].Workerid, 10)

	var mu sync.Mutex
	var asked []string
	target, _ := url.Parse("http://" + m.www)
	proxy := httputil.NewSingleHostReverseProxy(target)
	l := testkit.Listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path+" "+r.URL.Query().Encode())
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	env := append(m.env(), "BUILDMASTER_WWW=http://"+l.Addr().String())
	q := func(v url.Values) string { return v.Encode() }

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"builds"}, []string{
			"/api/v2/builds " + q(url.Values{"order": {"-buildid"}, "limit": {"20"}}),
			"/api/v2/builders " + q(url.Values{"builderid__in": {builderid}, "field": {"builderid", "name"}}),
			"/api/v2/workers " + q(url.Values{"workerid__in": {workerid}, "field": {"workerid", "name"}}),
		}},
		{[]string{"builds", "failing"}, []string{
			"/api/v2/builders/failing/builds " + q(url.Values{"order": {"-buildid"}, "limit": {"20"}}),
		}},
		{[]string{"builds", "--running"}, []string{
			"/api/v2/builds " + q(url.Values{"order": {"-buildid"}, "limit": {"20"}, "complete_at": {"0"}}),
		}},
	} {
		mu.Lock()
		asked = nil
		mu.Unlock()
		out, errOut, code := runEnv(t, env, tc.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", tc.args, code, out, errOut)
		}
		mu.Lock()
		got := slices.Clone(asked)
		mu.Unlock()
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v asked\n  %s\nwant\n  %s", tc.args, strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
		}
		if tc.args[len(tc.args)-1] == "builds" && (!strings.Contains(out, "hello ") || !strings.Contains(out, " w1 ")) {
			t.Errorf("builds does not name the builder and the worker:\n%s", out)
		}
	}
}
