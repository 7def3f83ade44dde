// Package test holds the end-to-end tests: they build the real buildmaster
// binary, start it as a separate process on 127.0.0.1 ports, and drive it the
// way an operator would, through its CLI, signals and HTTP endpoints.
package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// binary and workerBinary are the buildmaster and buildworker binaries,
// built once for all tests.
var binary, workerBinary string

// e2eParallel is how many tests of this package run at once unless
// -parallel says otherwise: the tests marked parallel mostly wait on the
// processes they start (each its own master and workers, on port 0), so
// more of them than the default GOMAXPROCS fit on a two-core machine. The
// CPU-heavy ones are not marked parallel and run alone.
const e2eParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	parallelGiven := false
	flag.Visit(func(f *flag.Flag) { parallelGiven = parallelGiven || f.Name == "test.parallel" })
	if !parallelGiven {
		if err := flag.Set("test.parallel", strconv.Itoa(e2eParallel)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	dir, err := os.MkdirTemp("", "buildmaster-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary, workerBinary = filepath.Join(dir, "buildmaster"), filepath.Join(dir, "buildworker")
	// One go build for both: they compile in parallel.
	build := exec.Command("go", "build", "-race", "-o", dir+string(filepath.Separator), "../cmd/buildmaster", "../cmd/buildworker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building buildmaster and buildworker:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lines collects a process's output and lets a test wait for a line.
type lines struct {
	mu     sync.Mutex
	all    []string
	notify chan struct{}
}

func newLines(r io.Reader, echo io.Writer) *lines {
	l := &lines{notify: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			l.mu.Unlock()
			if echo != nil {
				fmt.Fprintln(echo, sc.Text())
			}
			select {
			case l.notify <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

func (l *lines) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

// waitFor waits until a line after the first `from` lines matches re, and
// returns its index.
func (l *lines) waitFor(t testing.TB, from int, re string) int {
	t.Helper()
	rx := regexp.MustCompile(re)
	timeout := testkit.DefaultTimeout
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		all := l.snapshot()
		for i := from; i < len(all); i++ {
			if rx.MatchString(all[i]) {
				return i
			}
		}
		select {
		case <-l.notify:
		case <-deadline.C:
			t.Fatalf("no line matching %q within %s; output:\n%s", re, timeout, strings.Join(all, "\n"))
		}
	}
}

func (l *lines) count() int { return len(l.snapshot()) }

// master is a running buildmaster process.
type master struct {
	t       testing.TB
	cmd     *exec.Cmd
	dir     string // data dir
	cfgPath string
	// listen is what the config asks for: port 0 unless a test sets it.
	listen struct{ remote, www, debug, workers, workersPB string }
	// remote, www, debug, workers (msgpack) and workersPB are the addresses
	// the running process printed it is bound to (start reads them).
	remote    string
	debug     string
	www       string
	workers   string
	workersPB string
	token     string
	stdout    *lines
	stderr    *lines
	exited    chan error
}

// masterConfig renders a config whose listeners are the given ports (the
// worker listeners on port 0), with body appended.
func masterConfig(remote, www, debug, body string) string {
	return listenConfig(remote, www, debug, "127.0.0.1:0", "127.0.0.1:0", body)
}

// listenConfig renders a config whose listeners are the given ports, with
// body appended.
func listenConfig(remote, www, debug, workers, workersPB, body string) string {
	return fmt.Sprintf("listen:\n  remote: %s\n  www: %s\n  debug: %s\n  workers: %s\n  workers_pb: %s\n%s",
		remote, www, debug, workers, workersPB, body)
}

// startMaster writes body (config without listen) to a file and runs the
// master on it, its listeners on port 0, waiting until it is running.
func startMaster(t testing.TB, body string, extraArgs ...string) *master {
	t.Helper()
	m := newMaster(t, body)
	m.start(binary, extraArgs...)
	return m
}

// newMaster prepares a master whose listeners ask for port 0 (each is
// bound once, by the master, which prints the port it got): its data dir
// and config file.
func newMaster(t testing.TB, body string) *master {
	t.Helper()
	m := &master{t: t, dir: t.TempDir(), exited: make(chan error, 1)}
	m.listen.remote, m.listen.www, m.listen.debug = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	m.listen.workers, m.listen.workersPB = "127.0.0.1:0", "127.0.0.1:0"
	m.cfgPath = filepath.Join(m.dir, "master.yaml")
	m.writeConfig(body)
	return m
}

// boundAddrs are the lines where a master prints the addresses it is
// bound to, the address in the first group.
var boundAddrs = []struct {
	field func(*master) *string
	re    *regexp.Regexp
}{
	{func(m *master) *string { return &m.remote }, regexp.MustCompile(`^  control endpoint (\S+) `)},
	{func(m *master) *string { return &m.www }, regexp.MustCompile(`^  data API         http://(\S+)/api/v2/changes$`)},
	{func(m *master) *string { return &m.debug }, regexp.MustCompile(`^  debug endpoint   http://(\S+)/debug/tree `)},
	{func(m *master) *string { return &m.workers }, regexp.MustCompile(`^  workers          wss?://(\S+) `)},
	{func(m *master) *string { return &m.workersPB }, regexp.MustCompile(`^  workers \(PB\)     (\S+) `)},
}

// masterEnv is the environment a master runs with: this process's, with
// no token and, when benchmarks save profiles (BM_BENCH_PPROF), with
// GODEBUG's memprofilerate=4096 added to the settings it has (512 KiB, the
// runtime's default sampling, gives a few dozen samples per hundred
// builds).
func masterEnv() []string {
	env := append(os.Environ(), "BUILDMASTER_TOKEN=")
	if os.Getenv("BM_BENCH_PPROF") == "" {
		return env
	}
	godebug := "memprofilerate=4096"
	if cur := os.Getenv("GODEBUG"); cur != "" {
		godebug = cur + "," + godebug
	}
	return append(env, "GODEBUG="+godebug)
}

// start runs the binary bin as this master, waits until it says it is
// running and reads the addresses it printed. A restarted master (port 0)
// has new addresses: clients must be given them. It returns when the
// process was started.
func (m *master) start(bin string, extraArgs ...string) time.Time {
	t := m.t
	t.Helper()
	args := append([]string{"run", "--config", m.cfgPath, "--data", filepath.Join(m.dir, "data")}, extraArgs...)
	m.cmd = exec.Command(bin, args...)
	m.cmd.Env = masterEnv()
	out, _ := m.cmd.StdoutPipe()
	errp, _ := m.cmd.StderrPipe()
	var echo io.Writer
	if testing.Verbose() {
		echo = os.Stderr
	}
	m.stdout, m.stderr = newLines(out, nil), newLines(errp, echo)
	started := time.Now()
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, exited, done := m.cmd, make(chan error, 1), make(chan struct{})
	m.exited = exited
	go func() {
		exited <- cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // an error only says it has exited already
		<-done
	})
	from := m.waitRunning(t, done)
	for _, b := range boundAddrs {
		i := m.stdout.waitFor(t, from, b.re.String())
		*b.field(m) = b.re.FindStringSubmatch(m.stdout.snapshot()[i])[1]
	}
	tok, err := os.ReadFile(filepath.Join(m.dir, "data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	m.token = strings.TrimSpace(string(tok))
	return started
}

// waitRunning waits for the master's "buildmaster is running" line and
// returns its index. If the master exits first, or the wait outlasts
// testkit.DefaultTimeout, the failure shows both of its streams.
func (m *master) waitRunning(t testing.TB, exited <-chan struct{}) int {
	t.Helper()
	deadline := time.NewTimer(testkit.DefaultTimeout)
	defer deadline.Stop()
	for {
		for i, l := range m.stdout.snapshot() {
			if strings.Contains(l, "buildmaster is running") {
				return i
			}
		}
		why := ""
		select {
		case <-m.stdout.notify:
			continue
		case <-exited:
			why = "the master exited before it was running"
		case <-deadline.C:
			why = fmt.Sprintf("the master was not running within %s", testkit.DefaultTimeout)
		}
		errs := m.stderr.snapshot()
		t.Fatalf("%s; stdout:\n%s\nstderr (last 40 lines of %d):\n%s", why,
			strings.Join(m.stdout.snapshot(), "\n"), len(errs), strings.Join(errs[max(0, len(errs)-40):], "\n"))
	}
}

// in returns m for use by t, a subtest of the test that started it: the
// same process, failing t. It must not be restarted.
func (m *master) in(t testing.TB) *master {
	c := *m
	c.t = t
	return &c
}

func (m *master) writeConfig(body string) {
	m.t.Helper()
	if err := os.WriteFile(m.cfgPath, []byte(m.config(body)), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

// config is the text of a config with this master's listen section, as
// started, and body.
func (m *master) config(body string) string {
	return listenConfig(m.listen.remote, m.listen.www, m.listen.debug, m.listen.workers, m.listen.workersPB, body)
}

// cli runs a buildmaster client command against this master.
func (m *master) cli(args ...string) (stdout, stderr string, code int) {
	m.t.Helper()
	full := append(args[:1:1], append([]string{"--master", m.remote, "--data", filepath.Join(m.dir, "data")}, args[1:]...)...)
	return run(m.t, full...)
}

// run runs the binary with args and returns its output and exit code.
func run(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	out, errOut, code, err := runClient(context.Background(), "", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out, errOut, code
}

// treeNode is the JSON of /debug/tree.
type treeNode struct {
	Name        string `json:"name"`
	Path        string `json:"path"`
	Kind        string `json:"kind"`
	Status      string `json:"status"`
	Restarts    int64  `json:"restarts"`
	LastFailure *struct {
		Reason string    `json:"reason"`
		Time   time.Time `json:"time"`
	} `json:"last_failure"`
	Mailbox  int64       `json:"mailbox"`
	Children []*treeNode `json:"children"`
}

func (n *treeNode) find(path string) *treeNode {
	if n.Path == path {
		return n
	}
	for _, c := range n.Children {
		if f := c.find(path); f != nil {
			return f
		}
	}
	return nil
}

func (n *treeNode) childNames() []string {
	var out []string
	for _, c := range n.Children {
		out = append(out, c.Name)
	}
	return out
}

// paths lists every path in the tree, depth first.
func (n *treeNode) paths() []string {
	out := []string{n.Path}
	for _, c := range n.Children {
		out = append(out, c.paths()...)
	}
	return out
}

func (m *master) tree() *treeNode {
	m.t.Helper()
	var n treeNode
	m.getJSON("/debug/tree", &n)
	return &n
}

func (m *master) getJSON(path string, v any) int {
	m.t.Helper()
	resp, err := http.Get("http://" + m.debug + path)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		m.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

// waitTree polls the debug tree until cond holds.
func (m *master) waitTree(what string, cond func(*treeNode) bool) *treeNode {
	m.t.Helper()
	var n *treeNode
	testkit.Retry(m.t, func() error {
		if n = m.tree(); cond(n) {
			return nil
		}
		b, _ := json.MarshalIndent(n, "", " ")
		return fmt.Errorf("tree never showed %s:\n%s", what, b)
	})
	return n
}

// signal sends sig to the master process.
func (m *master) signal(sig syscall.Signal) {
	m.t.Helper()
	if err := m.cmd.Process.Signal(sig); err != nil {
		m.t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (m *master) wait() int {
	m.t.Helper()
	err := testkit.Recv(m.t, "the master's exit", m.exited)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		m.t.Fatal(err)
	}
	return 0
}
