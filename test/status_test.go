package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/testkit"
)

// rpc posts a JSON-RPC 2.0 body to /api/v2/PATH of the www listener, with
// the bearer token when it is not "", and returns the status and body.
func (m *master) rpc(path, token, body string) (int, string) {
	m.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+m.www+"/api/v2/"+path, strings.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// call is a JSON-RPC call on /api/v2/PATH with the admin token that must
// succeed.
func (m *master) call(path, method, params string) string {
	m.t.Helper()
	code, body := m.rpc(path, m.token, fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":%s}`, method, params))
	if code != 200 || !strings.Contains(body, `"result"`) {
		m.t.Fatalf("%s on %s: %d %s", method, path, code, body)
	}
	return body
}

// controlConfig: one worker taking one build at a time, a builder whose
// step waits for a gate file, and a failing one.
const controlConfig = `
workers:
  - {name: w1, password: pw1, max_builds: 1}
builders:
  - name: gated
    workers: [w1]
    steps:
      - name: wait
        shell: {script: 'echo waiting; for i in $(seq 1200); do [ -e GATE ] && break; sleep 0.05; done; echo line-after-gate; for i in $(seq 1200); do [ -e GATE2 ] && break; sleep 0.05; done; echo done'}
  - name: failing
    workers: [w1]
    steps:
      - name: boom
        shell: {script: 'echo about to fail; exit 3'}
  - name: sleepy
    workers: [w1]
    steps:
      - name: nap
        shell: {script: 'echo napping; sleep 2; echo awake'}
schedulers:
  - {name: force, type: force, builders: [gated, failing, sleepy]}
  - {name: nightly-ish, type: single_branch, branch: main, builders: [gated]}
`

// gatedMaster starts a master on controlConfig (after extra), its gate
// files in a temporary directory.
func gatedMaster(t *testing.T, extra string) (m *master, gate, gate2 string) {
	dir := t.TempDir()
	gate, gate2 = filepath.Join(dir, "gate"), filepath.Join(dir, "gate2")
	cfg := strings.ReplaceAll(strings.ReplaceAll(controlConfig, "GATE2", gate2), "GATE", gate)
	return startMaster(t, extra+cfg), gate, gate2
}

// TestControlOverCLIAndHTTP: stop, rebuild, cancel, worker pause and
// scheduler enable work from the CLI (BUILD as an id or BUILDER/NUMBER) and
// as Buildbot's JSON-RPC; refusals exit 1 naming what is wrong.
func TestControlOverCLIAndHTTP(t *testing.T) {
	t.Parallel()
	m, _, _ := gatedMaster(t, "")
	startWorker(t, m, "w1", "pw1")

	m.force("gated")
	m.waitStepLog("gated", 1, "wait", "waiting")
	m.force("gated") // queued: w1 takes one build at a time
	m.waitAPI("/api/v2/buildrequests?claimed=false&complete=false", `"buildrequestid":2`)
	if out, errOut, code := m.cli("cancel", "2", "--reason", "not needed"); code != 0 || !strings.Contains(out, "build request 2 cancelled") {
		t.Fatalf("cancel: exit %d\n%s%s", code, out, errOut)
	}
	m.waitAPI("/api/v2/buildrequests/2", `"complete":true`, `"results":6`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cancel", "2"}, "build request 2 is already complete"},
		{[]string{"cancel", "1"}, "build request 1 has started; stop its build instead"},
		{[]string{"cancel", "x"}, `REQUEST "x"`},
		{[]string{"stop", "gated/9"}, "builder gated has no build 9"},
		{[]string{"stop", "99"}, "there is no build 99"},
		{[]string{"stop", "gated/x"}, `BUILD "gated/x"`},
		{[]string{"stop", "1", "--clean"}, "stop the master, not a build"},
		{[]string{"rebuild", "nosuch/1"}, `there is no builder "nosuch"`},
	} {
		if out, errOut, code := m.cli(tc.args...); code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want 1 and %q\n%s%s", tc.args, code, tc.want, out, errOut)
		}
	}

	if out, errOut, code := m.cli("stop", "gated/1", "--reason", "enough"); code != 0 || !strings.Contains(out, "stopping build gated #1") {
		t.Fatalf("stop gated/1: exit %d\n%s%s", code, out, errOut)
	}
	if b := m.waitBuild("gated", 1); *b.Results != 6 {
		t.Fatalf("gated #1: results %d, want CANCELLED", *b.Results)
	}
	if out, errOut, code := m.cli("rebuild", "1"); code != 0 || !strings.Contains(out, "rebuilding build 1: buildset 3") {
		t.Fatalf("rebuild 1: exit %d\n%s%s", code, out, errOut)
	}
	m.waitStepLog("gated", 2, "wait", "waiting")
	// Over HTTP: stop build 2 by id; rebuild it.
	m.call("builds/2", "stop", `{"reason":"from curl"}`)
	if b := m.waitBuild("gated", 2); *b.Results != 6 {
		t.Fatalf("gated #2: results %d, want CANCELLED", *b.Results)
	}
	if body := m.call("builds/2", "rebuild", `{}`); !strings.Contains(body, `"result":[4,{"gated":4}]`) {
		t.Fatalf("rebuild over HTTP: %s", body)
	}
	m.waitStepLog("gated", 3, "wait", "waiting")
	m.call("builds/3", "stop", `{}`)
	m.waitBuild("gated", 3)

	// Workers: paused shows in the data API; the CLI and JSON-RPC agree.
	if out, errOut, code := m.cli("worker", "pause", "w1"); code != 0 {
		t.Fatalf("pause: exit %d\n%s%s", code, out, errOut)
	}
	m.waitAPI("/api/v2/workers/w1", `"paused":true`)
	m.call("workers/w1", "unpause", `{}`)
	m.waitAPI("/api/v2/workers/w1", `"paused":false`)

	// Schedulers: a disabled force scheduler refuses to force.
	m.call("schedulers/force", "enable", `{"enabled":false}`)
	m.waitAPI("/api/v2/schedulers?name=force", `"enabled":false`)
	if _, errOut, code := m.cli("force", "failing"); code != 1 || !strings.Contains(errOut, "force scheduler force is disabled") {
		t.Fatalf("force through a disabled scheduler: exit %d %s", code, errOut)
	}
	m.call("schedulers/force", "enable", `{"enabled":true}`)
	m.force("failing")
	if b := m.waitBuild("failing", 1); *b.Results != 2 {
		t.Fatalf("failing #1: %d", *b.Results)
	}
	// Refused over HTTP, with JSON-RPC errors.
	for _, tc := range []struct{ path, body, want string }{
		{"builds/99", `{"jsonrpc":"2.0","id":1,"method":"stop"}`, `there is no build \"99\"`},
		{"builds/1", `{"jsonrpc":"2.0","id":1,"method":"stop"}`, "has already finished"},
		{"buildrequests/2", `{"jsonrpc":"2.0","id":1,"method":"cancel"}`, "already complete"},
		{"workers/w1", `{"jsonrpc":"2.0","id":1,"method":"explode"}`, `workers have no action \"explode\"`},
		{"builds/1", `not json`, "not a JSON-RPC request"},
	} {
		code, body := m.rpc(tc.path, m.token, tc.body)
		if code < 400 || !strings.Contains(body, tc.want) || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s: %d %s, want %q", tc.path, tc.body, code, body, tc.want)
		}
	}
}

// TestEventStreams: a real build's events reach a /ws client (Buildbot's
// protocol) and an /sse client, from the one bus fed by the state; the
// streams outlive the listener's read timeout.
func TestEventStreams(t *testing.T) {
	t.Parallel()
	m, gate, gate2 := gatedMaster(t, "http: {read_timeout: 1s}\n")
	startWorker(t, m, "w1", "pw1")

	ctx, cancel := context.WithTimeout(context.Background(), testkit.DefaultTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+m.www+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(s string) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	type frame struct {
		K    string          `json:"k"`
		M    json.RawMessage `json:"m"`
		Msg  string          `json:"msg"`
		Code int             `json:"code"`
	}
	next := func(want func(frame) bool) frame {
		t.Helper()
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("reading /ws: %v", err)
			}
			var f frame
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatalf("frame %s: %v", data, err)
			}
			if want(f) {
				return f
			}
		}
	}
	send(`{"cmd":"startConsuming","path":"builders/*/builds/*/*","_id":1}`)
	next(func(f frame) bool { return f.Code == 200 })
	send(`{"cmd":"startConsuming","path":"logs/*/append","_id":2}`)
	next(func(f frame) bool { return f.Code == 200 })

	sseReq, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.www+"/sse/listen/builds/*/finished", nil)
	sse, err := http.DefaultClient.Do(sseReq)
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()
	sseLines := bufio.NewScanner(sse.Body)
	sseNext := func(prefix string) string {
		t.Helper()
		for sseLines.Scan() {
			if strings.HasPrefix(sseLines.Text(), prefix) {
				return sseLines.Text()
			}
		}
		t.Fatalf("the SSE stream ended: %v", sseLines.Err())
		return ""
	}
	sseNext("event: handshake")

	m.force("gated")
	if f := next(func(f frame) bool { return strings.HasSuffix(f.K, "/new") }); !strings.HasSuffix(f.K, "/builds/1/new") ||
		!strings.Contains(string(f.M), `"state_string":"building"`) {
		t.Fatalf("new build event: %s %s", f.K, f.M)
	}
	next(func(f frame) bool {
		return strings.HasPrefix(f.K, "logs/") && strings.Contains(string(f.M), `"num_lines"`)
	})
	os.WriteFile(gate, nil, 0o644)
	os.WriteFile(gate2, nil, 0o644)
	f := next(func(f frame) bool { return strings.HasSuffix(f.K, "/builds/1/finished") })
	if !strings.Contains(string(f.M), `"results":0`) || !strings.Contains(string(f.M), `"complete":true`) {
		t.Fatalf("finished event: %s", f.M)
	}
	sseNext("event: event")
	if data := sseNext("data: "); !strings.Contains(data, `"key":["builds","1","finished"]`) {
		t.Fatalf("SSE event: %s", data)
	}
	// sleepy's step sleeps 2s, past the listener's read timeout (1s): the
	// streams stay open and deliver its end.
	var sleepy struct{ Builders []struct{ Builderid int } }
	if code, body := m.wwwGet("/api/v2/builders/sleepy"); code != 200 || json.Unmarshal(body, &sleepy) != nil || len(sleepy.Builders) != 1 {
		t.Fatalf("builder sleepy: %d %s", code, body)
	}
	id := sleepy.Builders[0].Builderid
	m.force("sleepy")
	if f := next(func(f frame) bool { return strings.HasSuffix(f.K, "/finished") }); f.K != fmt.Sprintf("builders/%d/builds/1/finished", id) {
		t.Fatalf("event %s, want sleepy's (builder %d) build finished", f.K, id)
	}
	sseNext("event: event")
	if data := sseNext("data: "); !strings.Contains(data, fmt.Sprintf(`"builderid":%d`, id)) {
		t.Fatalf("SSE event: %s", data)
	}
}
