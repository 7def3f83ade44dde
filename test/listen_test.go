package test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestListenPortZeroPrintsTheBoundAddresses: a master whose listeners ask
// for port 0 gets a free port for each, prints the addresses it is bound
// to, and serves on them: the debug endpoint, the data API and the remote
// endpoint (a client command).
func TestListenPortZeroPrintsTheBoundAddresses(t *testing.T) {
	m := newMaster(t, "")
	m.remote, m.www, m.debug = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	m.writeConfig("")
	m.start(binary)
	for _, l := range []struct {
		field *string
		re    string
	}{
		{&m.remote, `^  remote endpoint  (127\.0\.0\.1:\d+) `},
		{&m.www, `^  data API         http://(127\.0\.0\.1:\d+)/api/v2/changes$`},
		{&m.debug, `^  debug endpoint   http://(127\.0\.0\.1:\d+)/debug/tree `},
	} {
		rx := regexp.MustCompile(l.re)
		i := m.stdout.waitFor(t, 0, l.re, 10*time.Second)
		got := rx.FindStringSubmatch(m.stdout.snapshot()[i])[1]
		if strings.HasSuffix(got, ":0") {
			t.Fatalf("printed %s, not the bound port", got)
		}
		*l.field = got
	}
	if code, _ := m.health(); code != http.StatusOK {
		t.Fatalf("healthz on the printed debug address: %d", code)
	}
	res, err := http.Get("http://" + m.www + "/api/v2/masters")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("data API on the printed www address: %s", res.Status)
	}
	if out, errOut, code := m.cli("tree"); code != 0 || !strings.Contains(out, "status [status] running") {
		t.Fatalf("tree through the printed remote address: exit %d\n%s%s", code, out, errOut)
	}
}
