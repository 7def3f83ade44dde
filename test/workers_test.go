package test

// The worker conformance suite (issue 12): one set of end-to-end checks, in
// the style of testing/slogtest, run against every kind of worker the
// master takes, each a real process that dials out to the real master:
//
//	buildworker            this repository's worker (msgpack, WebSocket)
//	buildbot-worker/msgpack Debian's buildbot-worker 3.7, created with
//	                       --protocol msgpack_experimental_v7
//	buildbot-worker/pb     Debian's buildbot-worker 3.7 as create-worker
//	                       makes it (PB, Buildbot's default)
//
// Nothing listens on any of them: the worker side of the forged-login
// attack ("stop interrupts the command" looks) has nothing to reach.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// workerKind starts one kind of worker as a process.
type workerKind struct {
	name string
	// start runs a worker NAME with password in basedir against m, without
	// waiting for it to log in.
	start func(t testing.TB, m *master, name, password, basedir string) *workerProc
	// info lists the keys its worker info has in /api/v2/workers (never
	// environ: the master keeps no worker's environment).
	info []string
}

// workerProc is a running worker process (with its children, in a
// process group of its own).
type workerProc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	output *lines
	// dump returns what to show when a test fails (its logs).
	dump func() string
}

// kill9 kills the worker's process group with SIGKILL, as a crash would,
// and waits for the worker process to end.
func (w *workerProc) kill9(t *testing.T) {
	t.Helper()
	_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
	testkit.Recv(t, "the killed worker's exit", w.done)
}

// startProc starts cmd in a process group of its own, killed when the test
// ends.
func startProc(t testing.TB, cmd *exec.Cmd, dump func() string) *workerProc {
	t.Helper()
	w := &workerProc{cmd: cmd, done: make(chan struct{}), dump: dump}
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	w.output = newLines(out, nil)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-w.done
		if t.Failed() {
			t.Logf("worker %v output:\n%s\n%s", cmd.Args, strings.Join(w.output.snapshot(), "\n"), w.dump())
		}
	})
	return w
}

// buildworkerKind is this repository's buildworker.
var buildworkerKind = workerKind{name: "buildworker", info: []string{"version", "basedir", "numcpus", "os_id", "system"}, start: func(t testing.TB, m *master, name, password, basedir string) *workerProc {
	cmd := exec.Command(workerBinary, "--master", m.workers, "--name", name, "--basedir", basedir, "--log-level", "debug")
	cmd.Env = append(os.Environ(), "BUILDWORKER_PASSWORD="+password)
	return startProc(t, cmd, func() string { return "" })
}}

// buildbotWorkerKind is Debian's buildbot-worker over protocol ("msgpack"
// or "pb"): create-worker, then start --nodaemon, as a user types them.
func buildbotWorkerKind(protocol string) workerKind {
	// create-worker writes info/admin and info/host for the operator to
	// fill in.
	return workerKind{name: "buildbot-worker/" + protocol, info: []string{"admin", "host", "version", "numcpus", "os_id", "basedir", "system"}, start: func(t testing.TB, m *master, name, password, basedir string) *workerProc {
		bin := buildbotWorkerBinary(t)
		env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + t.TempDir(), "LANG=C.UTF-8"}
		args := []string{"create-worker", "--umask=0o22", basedir, m.workersPB, name, password}
		if protocol == "msgpack" {
			args = []string{"create-worker", "--umask=0o22", "--protocol", "msgpack_experimental_v7", basedir, m.workers, name, password}
		}
		create := exec.Command(bin, args...)
		create.Env = env
		if out, err := create.CombinedOutput(); err != nil {
			t.Fatalf("buildbot-worker %v: %v\n%s", args, err, out)
		}
		cmd := exec.Command(bin, "start", "--nodaemon", basedir)
		cmd.Env = env
		return startProc(t, cmd, func() string {
			b, _ := os.ReadFile(filepath.Join(basedir, "twistd.log"))
			return "twistd.log:\n" + string(b)
		})
	}}
}

// buildbotWorkerBinary is Debian's buildbot-worker: a missing one fails the
// test in CI and skips it elsewhere.
func buildbotWorkerBinary(t testing.TB) string {
	p, err := exec.LookPath("buildbot-worker")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("buildbot-worker is not installed (apt-get install -y buildbot-worker): %v", err)
		}
		t.Skip("buildbot-worker is not installed (apt-get install -y buildbot-worker); with CI=true this test fails instead")
	}
	return p
}

// conformanceConfig: w1 builds everything; w2 can take gated builds (the
// one that runs again after w1 is killed). GATE is a file that releases
// the gated step; UPLOADS is where to expect uploads; SRC a file on the
// master to download.
const conformanceConfig = `
workers:
  - {name: w1, password: pw1}
  - {name: w2, password: pw2}
builders:
  - name: ok
    workers: [w1]
    steps:
      - name: say
        shell: {script: 'echo "hello from %(prop:workername)s in $(pwd | xargs basename)"'}
  - name: fail
    workers: [w1]
    steps:
      - name: boom
        shell: {script: 'echo about to fail; exit 3'}
  - name: gated
    workers: [w1, w2]
    steps:
      - name: wait
        shell: {script: 'echo started on %(prop:workername)s; if [ %(prop:workername)s = w1 ]; then while [ ! -e GATE ]; do sleep 0.05; done; fi; echo released'}
      - name: cleanup
        always_run: true
        shell: {script: 'echo cleanup'}
  - name: transfer
    workers: [w1]
    steps:
      - name: mkdir
        make_directory: {dir: build/out/sub}
      - name: string
        string_download: {s: "version %(prop:buildnumber)s", workerdest: out/VERSION}
      - name: download
        file_download: {mastersrc: SRC, workerdest: out/sub/settings.json, mode: 0600}
      - name: check
        shell: {script: 'cat out/VERSION; echo; cat out/sub/settings.json; ls -l out/sub/settings.json | cut -c1-10'}
      - name: upload
        file_upload: {workersrc: out/VERSION, masterdest: "v/%(prop:buildnumber)s/VERSION"}
      - name: updir
        directory_upload: {workersrc: out, masterdest: tree}
      - name: rmdir
        remove_directory: {dir: build/out}
      - name: gone
        shell: {script: 'test ! -e out && echo out is gone'}
schedulers:
  - {name: force, type: force, builders: [ok, fail, gated, transfer]}
`

// conformanceMaster starts a master on conformanceConfig, its worker
// listeners on addresses reserved for the test (a restarted master listens
// on them again). It returns the gate file.
func conformanceMaster(t *testing.T) (*master, string) {
	t.Helper()
	dir := t.TempDir()
	gate, src := filepath.Join(dir, "gate"), filepath.Join(dir, "settings.json")
	if err := os.WriteFile(src, []byte(`{"k": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) }) // a killed worker's orphaned step ends
	m := newMaster(t, "")
	m.listen.workers, m.listen.workersPB = testkit.ReservedAddr(t), testkit.ReservedAddr(t)
	m.writeConfig(strings.NewReplacer("GATE", gate, "SRC", src).Replace(conformanceConfig))
	m.start(binary)
	return m, gate
}

// apiWorker is a row of /api/v2/workers.
type apiWorker struct {
	Name        string
	ConnectedTo []map[string]any `json:"connected_to"`
	WorkerInfo  map[string]any   `json:"workerinfo"`
}

// worker returns the API's row of worker name; a worker that has never
// connected has none (404), the zero row.
func (m *master) worker(name string) apiWorker {
	m.t.Helper()
	code, body := m.wwwGet("/api/v2/workers/" + name)
	if code == 404 {
		return apiWorker{Name: name}
	}
	var page struct{ Workers []apiWorker }
	if err := json.Unmarshal(body, &page); err != nil || len(page.Workers) != 1 {
		m.t.Fatalf("/api/v2/workers/%s: %v %s", name, err, body)
	}
	return page.Workers[0]
}

// waitConnected waits until the API shows worker name connected.
func (m *master) waitConnected(name string) apiWorker {
	m.t.Helper()
	var w apiWorker
	testkit.Retry(m.t, func() error {
		if w = m.worker(name); len(w.ConnectedTo) == 0 {
			return fmt.Errorf("worker %s is not connected: %+v", name, w)
		}
		return nil
	})
	return w
}

// runWorkerConformance runs the suite against kind. The checks that leave
// the master and its worker as they found them share one master and one
// worker w1 (each forces its own builds and waits for their numbers); a
// worker killed and a master restarted have a master each.
func runWorkerConformance(t *testing.T, kind workerKind) {
	t.Parallel() // the suite waits on processes: worker, master, clients
	start := func(t *testing.T, m *master, name, password string) *workerProc {
		return kind.start(t, m, name, password, filepath.Join(t.TempDir(), name))
	}
	results := func(t *testing.T, m *master, builder string, n int) (apiBuild, string) {
		t.Helper()
		b := m.waitBuild(builder, n)
		return b, m.stepResults(b.Buildid)
	}

	shared, _ := conformanceMaster(t)
	w1 := start(t, shared, "w1", "pw1")
	info := shared.waitConnected("w1").WorkerInfo
	forced := map[string]int{} // builder → builds forced on shared
	// on is the shared master, failing subtest t; build forces builder on
	// it and waits for that build.
	on := func(t *testing.T) *master { return shared.in(t) }
	build := func(t *testing.T, builder string) (apiBuild, string) {
		t.Helper()
		forced[builder]++
		on(t).force(builder)
		return results(t, on(t), builder, forced[builder])
	}

	t.Run("connect and worker info", func(t *testing.T) {
		for _, key := range kind.info {
			if info[key] == nil || info[key] == "" {
				t.Errorf("workerinfo has no %s: %v", key, info)
			}
		}
		// The worker's environment may hold secrets: never shown.
		if _, ok := info["environ"]; ok {
			t.Errorf("workerinfo shows the worker's environment: %v", info)
		}
	})

	t.Run("shell SUCCESS and FAILURE", func(t *testing.T) {
		m := on(t)
		b, steps := build(t, "ok")
		if *b.Results != 0 || steps != "worker_preparation=0 say=0" {
			t.Fatalf("ok #%d: %d, steps %s", b.Number, *b.Results, steps)
		}
		if got := m.stepLog(b.Buildid, "say"); !strings.Contains(got, "hello from w1 in build") {
			t.Fatalf("log of say:\n%s", got)
		}
		b, steps = build(t, "fail")
		if *b.Results != 2 || steps != "worker_preparation=0 boom=2" {
			t.Fatalf("fail #%d: %d, steps %s", b.Number, *b.Results, steps)
		}
		if got := m.stepLog(b.Buildid, "boom"); !strings.Contains(got, "about to fail") {
			t.Fatalf("log of boom:\n%s", got)
		}
	})

	t.Run("file transfer steps", func(t *testing.T) {
		m := on(t)
		b, steps := build(t, "transfer")
		if *b.Results != 0 || steps != "worker_preparation=0 mkdir=0 string=0 download=0 check=0 upload=0 updir=0 rmdir=0 gone=0" {
			t.Fatalf("transfer #%d: %d, steps %s", b.Number, *b.Results, steps)
		}
		version := fmt.Sprintf("version %d", b.Number)
		if got := m.stepLog(b.Buildid, "check"); !strings.Contains(got, version+"\n") || !strings.Contains(got, `{"k": 1}`) ||
			!strings.Contains(got, "-rw-------") {
			t.Fatalf("log of check:\n%s", got)
		}
		if got := m.stepLog(b.Buildid, "gone"); !strings.Contains(got, "out is gone") {
			t.Fatalf("log of gone:\n%s", got)
		}
		uploads := filepath.Join(m.dir, "data", "uploads")
		for file, want := range map[string]string{fmt.Sprintf("v/%d/VERSION", b.Number): version, "tree/VERSION": version, "tree/sub/settings.json": `{"k": 1}`} {
			if got, err := os.ReadFile(filepath.Join(uploads, file)); err != nil || string(got) != want {
				t.Errorf("uploads/%s: %q %v, want %q", file, got, err, want)
			}
		}
	})

	t.Run("stop interrupts the command", func(t *testing.T) {
		m := on(t)
		forced["gated"]++
		m.force("gated")
		n := forced["gated"]
		m.waitStepLog("gated", n, "wait", "started on w1")
		// No worker listens: with a build running, the worker's process
		// group has no listening socket (issue 12: nothing to send a
		// forged login or command to).
		if ports := listeningPorts(t, w1.cmd.Process.Pid); len(ports) != 0 {
			t.Errorf("the worker listens on %v", ports)
		}
		if out, errOut, code := m.cli("stop-build", "gated", strconv.Itoa(n), "--reason", "enough"); code != 0 {
			t.Fatalf("stop-build: exit %d\n%s%s", code, out, errOut)
		}
		b, steps := results(t, m, "gated", n)
		if *b.Results != 6 || steps != "worker_preparation=0 wait=6 cleanup=0" {
			t.Fatalf("gated #%d: %d, steps %s", n, *b.Results, steps)
		}
		// The worker is free again: the next build runs.
		if b, _ := build(t, "ok"); *b.Results != 0 {
			t.Fatalf("ok #%d after the stop: %d", b.Number, *b.Results)
		}
	})

	t.Run("stop right after the build starts", func(t *testing.T) {
		// The stop lands while the build prepares the worker or while the
		// wait step's command is being started: either way the command
		// must not run on (without the interrupt it runs a minute, then
		// succeeds).
		m := on(t)
		forced["gated"]++
		m.force("gated")
		n := forced["gated"]
		testkit.Retry(t, func() error {
			if out, errOut, code := m.cli("stop-build", "gated", strconv.Itoa(n), "--reason", "at once"); code != 0 {
				return fmt.Errorf("stop-build: exit %d\n%s%s", code, out, errOut)
			}
			return nil
		})
		b, steps := results(t, m, "gated", n)
		if *b.Results != 6 || strings.Contains(steps, "wait=0") {
			t.Fatalf("gated #%d: %d, steps %s; want CANCELLED", n, *b.Results, steps)
		}
	})

	t.Run("second login refused while the first lives", func(t *testing.T) {
		m := on(t)
		from := m.stderr.count()
		second := start(t, m, "w1", "pw1")
		m.stderr.waitFor(t, from, `worker login refused.*already connected`)
		second.kill9(t)
		if b, _ := build(t, "ok"); *b.Results != 0 {
			t.Fatalf("ok #%d: %d", b.Number, *b.Results)
		}
	})

	// Last on the shared master: refused logins are rate-limited per
	// address.
	t.Run("wrong password refused", func(t *testing.T) {
		m := on(t)
		from := m.stderr.count()
		w2 := start(t, m, "w2", "not-the-password")
		m.stderr.waitFor(t, from, `worker login refused`)
		if w := m.worker("w2"); len(w.ConnectedTo) != 0 {
			t.Fatalf("w2 connected with a wrong password: %+v", w)
		}
		if strings.Contains(strings.Join(m.stderr.snapshot(), "\n"), "not-the-password") {
			t.Fatal("the wrong password reached the master's log")
		}
		w2.kill9(t)
	})

	t.Run("kill -9 gives RETRY and the request runs again", func(t *testing.T) {
		t.Parallel()
		m, gate := conformanceMaster(t)
		w1 := start(t, m, "w1", "pw1")
		m.waitConnected("w1")
		m.force("gated")
		m.waitStepLog("gated", 1, "wait", "started on w1")
		w1.kill9(t)
		os.WriteFile(gate, nil, 0o644)
		b, _ := results(t, m, "gated", 1)
		if *b.Results != 5 {
			t.Fatalf("gated #1: %d, want RETRY (5)", *b.Results)
		}
		start(t, m, "w2", "pw2")
		b, steps := results(t, m, "gated", 2)
		if *b.Results != 0 || steps != "worker_preparation=0 wait=0 cleanup=0" {
			t.Fatalf("gated #2: %d, steps %s", *b.Results, steps)
		}
		if got := m.stepLog(b.Buildid, "wait"); !strings.Contains(got, "started on w2") {
			t.Fatalf("log of wait:\n%s", got)
		}
		m.waitAPI("/api/v2/buildsets/1", `"complete":true`, `"results":0`)
	})

	t.Run("master restart: the worker reconnects", func(t *testing.T) {
		t.Parallel()
		m, _ := conformanceMaster(t)
		start(t, m, "w1", "pw1")
		m.waitConnected("w1")
		m.signal(syscall.SIGKILL)
		m.wait()
		m.start(binary)
		m.waitConnected("w1")
		m.force("ok")
		if b, _ := results(t, m, "ok", 1); *b.Results != 0 {
			t.Fatalf("ok #1 after the restart: %d", *b.Results)
		}
	})
}

func TestWorkerConformanceBuildworker(t *testing.T) { runWorkerConformance(t, buildworkerKind) }

func TestWorkerConformanceBuildbotWorkerMsgpack(t *testing.T) {
	runWorkerConformance(t, buildbotWorkerKind("msgpack"))
}

func TestWorkerConformanceBuildbotWorkerPB(t *testing.T) {
	runWorkerConformance(t, buildbotWorkerKind("pb"))
}

// TestNoWorkerListens: buildworker has no --listen any more (the
// conformance suite checks that no kind of worker listens while it builds).
func TestNoWorkerListens(t *testing.T) {
	t.Parallel()
	if out, err := exec.Command(workerBinary, "--listen", "127.0.0.1:0").CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown flag: --listen") {
		t.Fatalf("buildworker --listen: %v\n%s", err, out)
	}
}

// listeningPorts lists the TCP ports processes of pid's process group
// listen on (from /proc/PID/net/tcp{,6} and the processes' socket inodes).
func listeningPorts(t *testing.T, pgid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(p))
		if g, err := syscall.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		fds, _ := filepath.Glob(p + "/fd/*")
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
			}
		}
	}
	if len(inodes) == 0 {
		t.Fatalf("no socket in process group %d: is it connected?", pgid)
	}
	var ports []string
	field := regexp.MustCompile(`\s+`)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			cols := field.Split(strings.TrimSpace(sc.Text()), -1)
			// local_address st ... inode: state 0A is LISTEN.
			if len(cols) > 9 && cols[3] == "0A" && inodes[cols[9]] {
				ports = append(ports, cols[1])
			}
		}
		f.Close()
	}
	return ports
}
