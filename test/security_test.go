package test

// Security end-to-end tests: the test process plays "another process" (a
// CLI, a worker, an attacker on the network) against the real master binary.
// Each test fails if the protection it names is taken away.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/control"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// secPassword is linux-1's worker password: it must never be shown.
const secPassword = "wpw-5d1e0c7a-do-not-print"

// secConfig is a small config with a known worker password and debug
// actions on or off; extra is appended (more workers, say).
func secConfig(actions bool, extraWorkers ...string) string {
	workers := "  - {name: linux-1, password: " + secPassword + "}\n  - {name: linux-2, password: pw2}\n"
	for _, w := range extraWorkers {
		workers += "  - " + w + "\n"
	}
	return fmt.Sprintf(`
debug:
  actions: %v
workers:
%sbuilders:
  - name: runtests
    workers: [linux-1, linux-2]
    steps:
      - shell: {command: [echo, hi]}
schedulers:
  - {name: force, type: force, builders: [runtests]}
`, actions, workers)
}

// dropLine matches the master's log line for a request it refused.
func dropLine(target, typeName, reason string) string {
	if typeName == "" {
		typeName = `""`
	}
	return `level=WARN msg="control: refused a request from another process" peer=127\.0\.0\.1:\d+ target=` +
		regexp.QuoteMeta(target) + ` type=` + regexp.QuoteMeta(typeName) + ` reason="` + regexp.QuoteMeta(reason)
}

const (
	notAccepted = "target does not accept this message from other processes"
	foreignType = "message type is not part of the buildmaster.v1 schema"
)

// waitLog waits until a line of the master's stderr after the first from
// matches re, like lines.waitFor, but fails at once if the master exits.
func (m *master) waitLog(from int, re string) {
	m.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(testkit.DefaultTimeout)
	defer deadline.Stop()
	for {
		all := m.stderr.snapshot()
		for i := from; i < len(all); i++ {
			if rx.MatchString(all[i]) {
				return
			}
		}
		select {
		case <-m.stderr.notify:
		case err := <-m.exited:
			m.t.Fatalf("the master exited (%v) before logging %q; stderr:\n%s", err, re, tail(m.stderr.snapshot(), 40))
		case <-deadline.C:
			m.t.Fatalf("no line matching %q within %s; stderr:\n%s", re, testkit.DefaultTimeout, tail(all, 40))
		}
	}
}

func tail(lines []string, n int) string {
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// health returns /healthz's status code and generation.
func (m *master) health() (int, float64) {
	m.t.Helper()
	var h map[string]any
	code := m.getJSON("/healthz", &h)
	if code == http.StatusOK && h["status"] != "ok" {
		m.t.Fatalf("healthz = %v", h)
	}
	g, _ := h["generation"].(float64)
	return code, g
}

// get returns the body of GET path on the debug endpoint.
func (m *master) get(path string) string {
	m.t.Helper()
	resp, err := http.Get("http://" + m.debug + path)
	if err != nil {
		m.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		m.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return readAll(m.t, resp)
}

// postCrash asks the debug endpoint to crash the actor at path, with the
// given Authorization header ("" for none).
func (m *master) postCrash(path, auth, reason string) (int, string, http.Header) {
	m.t.Helper()
	req, err := http.NewRequest("POST", "http://"+m.debug+"/debug/actors/"+path+"/crash?reason="+reason, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	return resp.StatusCode, readAll(m.t, resp), resp.Header
}

// waitMetric polls /metrics until a line matches re.
func (m *master) waitMetric(re string) {
	m.t.Helper()
	rx := regexp.MustCompile(`(?m)^` + re + `$`)
	testkit.Retry(m.t, func() error {
		if body := m.get("/metrics"); !rx.MatchString(body) {
			return fmt.Errorf("/metrics never matched %s:\n%s", re, grepLines(body, "buildmaster_remote"))
		}
		return nil
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// assertAlive checks that the master process is still running and serving:
// not exited, /healthz 200, and `buildmaster tree` answered over remote.
func (m *master) assertAlive() {
	m.t.Helper()
	select {
	case err := <-m.exited:
		m.t.Fatalf("the master exited (%v); stderr:\n%s", err, strings.Join(m.stderr.snapshot(), "\n"))
	default:
	}
	if code, _ := m.health(); code != http.StatusOK {
		m.t.Fatalf("healthz %d", code)
	}
	if out, errOut, code := m.cli("tree"); code != 0 || !strings.Contains(out, "botmaster [botmaster] running") {
		m.t.Fatalf("tree: exit %d\n%s%s", code, out, errOut)
	}
	for _, l := range m.stderr.snapshot() {
		if strings.Contains(l, "panic") {
			m.t.Fatalf("the master logged a panic: %s", l)
		}
	}
}

// postControl posts body to the master's control endpoint for target, as
// another process may, and returns the status and the body of the answer.
func (m *master) postControl(t *testing.T, target string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+m.remote+control.PathPrefix+target, control.ContentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// anyOf is the body of a control request: an Any naming typeName and
// holding data.
func anyOf(t *testing.T, typeName string, data []byte) []byte {
	t.Helper()
	return marshal(t, &anypb.Any{TypeUrl: "type.googleapis.com/" + typeName, Value: data})
}

// request is the body of a control request holding msg.
func request(t *testing.T, msg proto.Message) []byte {
	t.Helper()
	return anyOf(t, string(proto.MessageName(msg)), marshal(t, msg))
}

// (a) A client with the wrong admin token is refused, the refusal is logged,
// and nothing changes.
func TestSecurityWrongAdminTokenIsRefused(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true))
	_, gen := m.health()
	// The config on disk now adds a worker: a reconfig that got through
	// would load it.
	m.writeConfig(secConfig(true, "{name: mac-1, password: pw3}"))

	for _, args := range [][]string{{"tree"}, {"tree", "--json"}, {"reconfig"}, {"reconfig", "--dry-run"}} {
		from := m.stderr.count()
		out, errOut, code := m.cli(append(args, "--token", "wrong")...)
		if code != 2 || !strings.Contains(errOut, "the master refused the request: admin token missing or wrong") {
			t.Fatalf("%v --token wrong: exit %d, stderr:\n%s", args, code, errOut)
		}
		if strings.TrimSpace(out) != "" {
			t.Fatalf("%v --token wrong printed:\n%s", args, out)
		}
		typ := "GetTreeRequest"
		if args[0] == "reconfig" {
			typ = "ReconfigureRequest"
		}
		m.waitLog(from, `level=WARN msg="control request refused: bad admin token" from=127\.0\.0\.1:\d+ type=buildmaster\.v1\.`+typ)
	}
	if _, g := m.health(); g != gen {
		t.Fatalf("generation %v after refused requests, was %v", g, gen)
	}
	if m.tree().find("master/botmaster/worker:mac-1") != nil {
		t.Fatal("a refused reconfig was applied")
	}
	for _, l := range m.stderr.snapshot() {
		if strings.Contains(l, "beginning configuration update") {
			t.Fatalf("a refused reconfig started: %s", l)
		}
	}

	// The same requests with the right token go through.
	if out, errOut, code := m.cli("reconfig"); code != 0 {
		t.Fatalf("reconfig: exit %d\n%s%s", code, out, errOut)
	}
	if _, g := m.health(); g != gen+1 {
		t.Fatalf("generation %v after reconfig, want %v", g, gen+1)
	}
	m.waitTree("mac-1 added", func(n *treeNode) bool { return n.find("master/botmaster/worker:mac-1") != nil })
}

// (b) A message sent straight to an internal actor from another process is
// refused and logged, even a valid request with the right token.
func TestSecurityInternalActorsAreUnreachableFromOutside(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true))
	from := m.stderr.count()
	cases := []struct {
		target string
		msg    proto.Message
	}{
		{"master/botmaster", &messages.InjectFailure{Reason: "from another process"}},
		{"master/botmaster/brd", &messages.InjectFailure{Reason: "from another process"}},
		{"master/botmaster/worker:linux-1", &messages.InjectFailure{Reason: "from another process"}},
		{"master", &messages.InjectFailure{Reason: "from another process"}},
		{"master/botmaster", &messages.GetTreeRequest{Token: m.token}},
		{"master/debug", &messages.ReconfigureRequest{Token: m.token}},
		{"master/", &messages.GetTreeRequest{Token: m.token}},
		{"master/../master/botmaster", &messages.StopBuildRequest{Token: m.token}},
	}
	for _, c := range cases {
		if code, body := m.postControl(t, c.target, request(t, c.msg)); code != http.StatusForbidden || !strings.Contains(body, notAccepted) {
			t.Fatalf("%s %T: %d %s", c.target, c.msg, code, body)
		}
		m.waitLog(from, dropLine(c.target, string(proto.MessageName(c.msg)), notAccepted))
	}
	m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="not_accepted"\} 8`)

	// The same process is answered when it asks the one public actor.
	res, err := ask.Reply[*messages.GetTreeResponse](control.NewClient(m.remote).Call(context.Background(), "master", &messages.GetTreeRequest{Token: m.token}, 20*time.Second))
	if err != nil || res.GetRoot().GetName() != "master" {
		t.Fatalf("reply %v %v", res, err)
	}
	root := m.tree()
	for _, path := range []string{"master", "master/botmaster", "master/botmaster/brd", "master/botmaster/worker:linux-1"} {
		n := root.find(path)
		if n == nil || n.Restarts != 0 || n.LastFailure != nil || n.Status != "running" {
			t.Fatalf("%s = %+v", path, n)
		}
	}
	if _, g := m.health(); g != 1 {
		t.Fatalf("generation %v", g)
	}
}

// (c) protoactor's own lifecycle messages from outside are refused: no
// other process can stop, poison or watch the master's actors.
func TestSecuritySystemMessagesFromOutsideAreRefused(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true))
	from := m.stderr.count()
	root := actor.NewPID("nonhost", "master")
	for _, c := range []struct {
		target string
		msg    proto.Message
	}{
		{"master", &actor.PoisonPill{}},
		{"master", &actor.Stop{}},
		{"master/botmaster", &actor.PoisonPill{}},
		{"master/botmaster", &actor.Stop{}},
		{"master", &actor.Watch{Watcher: root}},
		{"master", &actor.Unwatch{Watcher: root}},
		{"master/botmaster", &actor.Terminated{Who: root, Why: actor.TerminatedReason_Stopped}},
		{"master/botmaster", &actor.Touch{}},
		{"master", &anypb.Any{}},
	} {
		if code, body := m.postControl(t, c.target, request(t, c.msg)); code != http.StatusBadRequest || !strings.Contains(body, foreignType) {
			t.Fatalf("%s %T: %d %s", c.target, c.msg, code, body)
		}
		m.waitLog(from, dropLine(c.target, string(proto.MessageName(c.msg)), foreignType))
	}
	m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="foreign_type"\} 9`)
	m.assertAlive()
	tree := m.tree()
	if tree.Status != "running" || strings.Join(tree.childNames(), ",") != strings.Join(services, ",") {
		t.Fatalf("tree after system messages: %s %v", tree.Status, tree.childNames())
	}
	for _, path := range tree.paths() {
		if n := tree.find(path); n.Status != "running" || n.Restarts != 0 {
			t.Fatalf("%s = %+v", path, n)
		}
	}
}

// (d) Unknown message types, garbage, oversized bodies and raw junk on the
// port never crash the master; each is refused with the reason.
func TestSecurityGarbageNeverCrashesTheMaster(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true))
	from := m.stderr.count()
	tree := marshal(t, &messages.GetTreeRequest{Token: m.token})
	const gtr = "buildmaster.v1.GetTreeRequest"
	cases := []struct {
		name string
		body []byte
		code int
		want string // the drop line
	}{
		{"unregistered schema type", anyOf(t, "buildmaster.v1.NoSuchThing", []byte("\x0a\x03abc")), http.StatusBadRequest,
			dropLine("master", "buildmaster.v1.NoSuchThing", "unknown message type")},
		{"unregistered foreign type", anyOf(t, "foo.Bar", []byte{1}), http.StatusBadRequest, dropLine("master", "foo.Bar", foreignType)},
		{"schema package and a dot only", anyOf(t, "buildmaster.v1.", tree), http.StatusBadRequest,
			dropLine("master", "", "the body's type URL is not")},
		{"garbage data for a real type", anyOf(t, gtr, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), http.StatusBadRequest,
			dropLine("master", gtr, "message does not decode")},
		{"invalid UTF-8 in a string field", anyOf(t, gtr, []byte{0x0a, 0x02, 0xff, 0xfe}), http.StatusBadRequest,
			dropLine("master", gtr, "message does not decode")},
		{"a bare message, not an Any (its token where a type URL goes)", tree, http.StatusBadRequest,
			dropLine("master", "", "the body's type URL is not")},
		{"JSON, right token", []byte(`{"token":"` + m.token + `"}`), http.StatusBadRequest,
			dropLine("master", "", "the body is not a google.protobuf.Any")},
		{"empty body", nil, http.StatusBadRequest, dropLine("master", "", "the body's type URL is not")},
		{"over the size limit", append(anyOf(t, gtr, nil), make([]byte, control.MaxMessageBytes)...), http.StatusRequestEntityTooLarge,
			dropLine("master", "", "the body is larger than")},
	}
	for _, c := range cases {
		if code, body := m.postControl(t, "master", c.body); code != c.code {
			t.Fatalf("%s: %d %s, want %d", c.name, code, body, c.code)
		}
		m.waitLog(from, c.want)
	}
	// A bad timeout, a path outside the endpoint's, a GET.
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.remote+control.PathPrefix+"master", bytes.NewReader(request(t, &messages.GetTreeRequest{Token: m.token})))
	req.Header.Set(control.TimeoutHeader, "-1s")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a negative timeout: %v %v", resp, err)
	}
	if resp, err := http.Post("http://"+m.remote+"/master", control.ContentType, bytes.NewReader(tree)); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a path outside %s: %v %v", control.PathPrefix, resp, err)
	}
	if resp, err := http.Get("http://" + m.remote + control.PathPrefix + "master"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp, err)
	}

	// Each case again, from 4 clients at once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, c := range cases {
				resp, err := http.Post("http://"+m.remote+control.PathPrefix+"master", control.ContentType, bytes.NewReader(c.body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()

	// Raw garbage on the TCP port: random bytes, a request trickled in
	// halves, and an HTTP/2 preface followed by junk frames.
	junk := make([]byte, 64<<10)
	rand.Read(junk)
	for _, payload := range [][]byte{
		junk,
		[]byte("POST /v1/master HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n"),
		append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), junk[:4096]...),
	} {
		c, err := net.Dial("tcp", m.remote)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(payload)
		buf := make([]byte, 4096)
		for { // until the server hangs up
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		c.Close()
	}

	m.assertAlive()
	for _, reason := range []string{"unknown_type", "foreign_type", "undecodable", "malformed", "too_large"} {
		m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="` + reason + `"\} [1-9][0-9]*`)
	}
	// Every request of the concurrent clients was read and refused too:
	// one unknown type each time, five times.
	m.waitMetric(`buildmaster_remote_dropped_messages_total\{reason="unknown_type"\} 5`)
	for _, l := range m.stderr.snapshot() {
		if strings.Contains(l, m.token) {
			t.Fatalf("the admin token was logged: %s", l)
		}
	}
}

// (f) The debug crash action needs both debug.actions: true and the admin
// token.
func TestSecurityDebugCrashNeedsActionsAndToken(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(false))
	const path = "master/botmaster/worker:linux-1"
	post := func(auth, reason string) (int, string, http.Header) {
		t.Helper()
		return m.postCrash(path, auth, reason)
	}
	// Actions off: refused even with the right token.
	for i, auth := range []string{"Bearer " + m.token, ""} {
		if code, body, _ := post(auth, "off"+strconv.Itoa(i)); code != http.StatusForbidden || !strings.Contains(body, "debug.actions") {
			t.Fatalf("actions off: %d %s", code, body)
		}
	}
	// Turn them on by a reconfig.
	m.writeConfig(secConfig(true))
	if out, errOut, code := m.cli("reconfig"); code != 0 {
		t.Fatalf("reconfig: exit %d\n%s%s", code, out, errOut)
	}
	// No or a wrong token: refused.
	for i, auth := range []string{"", "Bearer wrong", "Bearer " + m.token + "x", "Bearer " + m.token[:len(m.token)-1], "Basic " + m.token, "Bearer"} {
		code, body, h := post(auth, "bad"+strconv.Itoa(i))
		if code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("Authorization %q: %d %s", auth, code, body)
		}
		if strings.Contains(body, m.token) {
			t.Fatalf("the token is in a refusal: %s", body)
		}
	}
	// The right token: the actor crashes once, for this request.
	if code, body, _ := post("Bearer "+m.token, "valid"); code != http.StatusAccepted {
		t.Fatalf("right token: %d %s", code, body)
	}
	n := m.waitTree("the crash", func(n *treeNode) bool {
		w := n.find(path)
		return w != nil && w.LastFailure != nil && strings.Contains(w.LastFailure.Reason, "injected failure: valid") && w.Status == "running"
	}).find(path)
	// Had a refused request been acted on, its failure would have come
	// first (all were sent before) and counted.
	if n.Restarts != 1 {
		t.Fatalf("restarts = %d, want 1: %+v", n.Restarts, n)
	}
	for _, l := range m.stderr.snapshot() {
		if strings.Contains(l, "injected failure: off") || strings.Contains(l, "injected failure: bad") {
			t.Fatalf("a refused crash was carried out: %s", l)
		}
	}
}

// (g) Secrets never appear: not the worker password, not the admin token,
// in the master's output, its debug endpoint, its metrics, or a client's
// output, whatever happens.
func TestSecuritySecretsNeverAppear(t *testing.T) {
	t.Parallel()
	m := startMaster(t, secConfig(true), "--log-level", "debug")
	secrets := map[string]string{"worker password": secPassword, "admin token": m.token}
	var shown []string // everything a user or client saw
	cli := func(wantCode int, args ...string) {
		t.Helper()
		out, errOut, code := m.cli(args...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, wantCode, out, errOut)
		}
		shown = append(shown, fmt.Sprintf("$ buildmaster %v\n%s%s", args, out, errOut))
	}

	// Normal use, and refusals of all kinds.
	cli(0, "tree")
	cli(0, "tree", "--json")
	cli(2, "tree", "--token", "wrong")
	from := m.stderr.count()
	m.postControl(t, "master/botmaster", request(t, &messages.GetTreeRequest{Token: m.token}))
	m.postControl(t, "master/botmaster", request(t, &messages.ReconfigureRequest{Token: m.token, ConfigYaml: []byte(secConfig(true))}))
	m.waitLog(from, dropLine("master/botmaster", "buildmaster.v1.ReconfigureRequest", notAccepted))
	if code, body, _ := m.postCrash("master/botmaster/worker:linux-1", "Bearer "+m.token, "secrets"); code != http.StatusAccepted {
		t.Fatalf("crash: %d %s", code, body)
	}
	m.waitTree("the crash", func(n *treeNode) bool { return n.find("master/botmaster/worker:linux-1").Restarts == 1 })

	// Rejected reconfigs whose errors sit on or next to the password.
	dir := t.TempDir()
	bad := map[string]string{
		"duplicate password key": "{name: linux-1, password: " + secPassword + ", password: " + secPassword + "}",
		"password as a list":     "{name: linux-1, password: [" + secPassword + "]}",
		"password as a mapping":  "{name: linux-1, password: {" + secPassword + ": 1}}",
		"error after password":   "{name: linux-1, password: " + secPassword + ", max_builds: lots}",
		"misspelt password key":  "{name: linux-1, pasword: " + secPassword + "}",
		"unclosed quote":         "{name: linux-1, password: \"" + secPassword + "}",
		"unclosed single quote":  "{name: linux-1, password: '" + secPassword + "}",
		"colon in password":      "{name: linux-1, password: " + secPassword + ": x}",
	}
	for name, worker := range bad {
		cfg := strings.Replace(secConfig(true), "{name: linux-1, password: "+secPassword+"}", worker, 1)
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(f, []byte(masterConfig(m.remote, m.www, m.debug, cfg)), 0o600); err != nil {
			t.Fatal(err)
		}
		cli(1, "reconfig", "--config", f)
		cli(1, "reconfig", "--dry-run", "--config", f)
		shown = append(shown, runCheckconfig(t, f))
	}
	// The master's own file, rejected on a bare reconfig (errors logged).
	m.writeConfig(strings.Replace(secConfig(true), "{name: linux-1, password: "+secPassword+"}", bad["password as a list"], 1))
	cli(1, "reconfig")
	// And accepted, with a changed password.
	m.writeConfig(strings.Replace(secConfig(true), secPassword, secPassword+"-2", 1))
	cli(0, "reconfig")
	m.waitTree("the reconfig", func(n *treeNode) bool { return n.find("master/botmaster/worker:linux-1") != nil })

	// Everything the master shows.
	root := m.tree()
	shown = append(shown,
		m.get("/debug/tree"), m.get("/debug/tree?format=text"), m.get("/debug/tree?format=html"),
		m.get("/metrics"), m.get("/healthz"))
	for _, path := range root.paths() {
		shown = append(shown, m.get("/debug/actors/"+path))
	}
	worker := m.get("/debug/actors/master/botmaster/worker:linux-1")
	if !strings.Contains(worker, `"linux-1"`) {
		t.Fatalf("worker state:\n%s", worker)
	}
	// The master's output, after a clean stop (which logs every actor).
	from = m.stderr.count()
	m.signal(syscall.SIGTERM)
	if code := m.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	m.stderr.waitFor(t, from, "master stopped")
	shown = append(shown, strings.Join(m.stderr.snapshot(), "\n"), strings.Join(m.stdout.snapshot(), "\n"))

	for _, s := range shown {
		for what, secret := range secrets {
			if i := strings.Index(s, secret); i >= 0 {
				t.Errorf("the %s is shown:\n%s", what, s[max(0, i-300):min(len(s), i+100)])
			}
		}
		// Any part of the password, such as the part a YAML error quotes.
		if strings.Contains(s, "5d1e0c7a") {
			t.Errorf("part of the worker password is shown:\n%s", s)
		}
	}
	if len(shown) < 30 {
		t.Fatalf("only %d outputs checked", len(shown))
	}
}

// TestSecurityPasswordInYAMLErrors: a YAML error that quotes the password's
// own text (an unquoted password that starts with '*' is read as an alias).
func TestSecurityPasswordInYAMLErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, worker := range map[string]string{
		"unknown anchor": "{name: linux-1, password: *" + secPassword + "}",
		"alias":          "&" + secPassword + " {name: linux-2, password: x}\n  - {name: linux-1, password: *" + secPassword + "}",
	} {
		cfg := strings.Replace(secConfig(true), "{name: linux-1, password: "+secPassword+"}", worker, 1)
		cfg = strings.Replace(cfg, "  - {name: linux-2, password: pw2}\n", "", 1)
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if out := runCheckconfig(t, f); strings.Contains(out, secPassword) {
			t.Errorf("%s: the YAML error quotes the password:\n%s", name, out)
		}
	}
}

func runCheckconfig(t *testing.T, path string) string {
	t.Helper()
	out, errOut, code := run(t, "checkconfig", path)
	if code != 1 {
		t.Fatalf("checkconfig %s: exit %d\n%s%s", path, code, out, errOut)
	}
	return out + errOut
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
