package msgpack

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/buildmaster/buildmaster/internal/droplog"
)

// floodMaster is a master whose refusals are logged by a Log on a clock
// the test moves.
func floodMaster(t *testing.T) (*master, *time.Time) {
	now := time.Unix(1e9, 0)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	m := startMaster(t, ServerOptions{Logger: log,
		Refusals: droplog.New(log, droplog.Options{Now: func() time.Time { return now }})})
	m.logs = logs
	return m, &now
}

// TestWrongLoginsDoNotFloodTheLog: a stranger's 1,000 wrong logins over
// a real socket log the source's burst, then one line that counts the
// rest once its budget has refilled.
func TestWrongLoginsDoNotFloodTheLog(t *testing.T) {
	m, now := floodMaster(t)
	login := func() {
		req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, "http://"+m.addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("w1", "wrong")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	}
	for range 1000 {
		login()
	}
	if n := strings.Count(m.logs.String(), "worker login refused"); n != droplog.DefaultSourceBurst {
		t.Fatalf("1000 wrong logins logged %d lines, want the source's burst %d", n, droplog.DefaultSourceBurst)
	}
	*now = now.Add(droplog.DefaultSourceEvery)
	login()
	lines := strings.Split(strings.TrimSpace(m.logs.String()), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"worker login refused", "worker=w1", "peer=127.0.0.1:", "not_logged_before=990"} {
		if !strings.Contains(last, want) {
			t.Errorf("line after the budget refilled = %q, want %q in it", last, want)
		}
	}
	if strings.Contains(m.logs.String(), "wrong") {
		t.Error("the password is in the log")
	}
}

// TestFailedUpgradesDoNotFloodTheLog: a peer with the password whose
// requests are no WebSocket upgrade (the upgrade fails after the login is
// checked) logs the source's burst.
func TestFailedUpgradesDoNotFloodTheLog(t *testing.T) {
	m, _ := floodMaster(t)
	for range 30 {
		req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, "http://"+m.addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("w1", "pa:ss")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode < 400 {
			t.Fatalf("status %d, want a refused upgrade", resp.StatusCode)
		}
	}
	if n := strings.Count(m.logs.String(), "worker upgrade failed"); n != droplog.DefaultSourceBurst {
		t.Fatalf("30 failed upgrades logged %d lines, want the source's burst %d:\n%s", n, droplog.DefaultSourceBurst, m.logs)
	}
}

// TestIgnoredFramesDoNotFloodTheLog: a logged-in worker's 1,000 text
// frames and 1,000 frames without seq_number log the source's burst.
func TestIgnoredFramesDoNotFloodTheLog(t *testing.T) {
	m, _ := floodMaster(t)
	r := dialRaw(t, m.url, basic("w1", "pa:ss"))
	r.login()
	for range 1000 {
		if err := r.ws.Write(testCtx(t), websocket.MessageText, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		r.send(frame{"op": "update"})
	}
	// Frames are read in order: once this one is answered, all the
	// others have been read.
	r.send(frame{"op": "frob", "seq_number": 200})
	if a := r.must(); a["seq_number"] != int64(200) {
		t.Fatalf("answer %v, want the one to seq 200", a)
	}
	logs := m.logs.String()
	n := strings.Count(logs, "ignoring a text frame") + strings.Count(logs, "dropping a frame without seq_number or op")
	if n != droplog.DefaultSourceBurst {
		t.Fatalf("2000 ignored frames logged %d lines, want the source's burst %d:\n%s", n, droplog.DefaultSourceBurst, logs)
	}
	if !strings.Contains(logs, "worker=w1") {
		t.Errorf("the lines do not name the worker:\n%s", logs)
	}
}
