package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
)

const reportersConfig = `
collapse_requests: false
workers:
  - {name: w1, password: pw1}
builders:
  - {name: quick, workers: [w1], steps: [{shell: {command: ["true"]}}]}
schedulers:
  - {name: force, type: force, builders: [quick]}
reporters:
  - {name: hook, type: http_push, url: '%[1]s/hook', retry_initial: 20ms, retry_max: 100ms}
  - {name: hook2, type: http_push, url: '%[1]s/hook2', retry_initial: 20ms, retry_max: 100ms}
  - {name: hook3, type: http_push, url: '%[1]s/hook3', retry_initial: 20ms, retry_max: 100ms}
`

// hookTarget is an http_push target that answers 503 while down and
// records, once up, each report it takes as (reporter's path, buildid,
// complete).
type hookTarget struct {
	up  atomic.Bool
	mu  sync.Mutex
	got []hookReport
}

type hookReport struct {
	Path     string
	BuildID  uint64 `json:"buildid"`
	Complete bool   `json:"complete"`
}

func (h *hookTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !h.up.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var rep hookReport
	if err := json.Unmarshal(body, &rep); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rep.Path = r.URL.Path
	h.mu.Lock()
	h.got = append(h.got, rep)
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (h *hookTarget) reports() []hookReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReport(nil), h.got...)
}

// TestReportsSurviveKill: 20 builds finish while the target of three
// reporters is down (120 reports pending: each build's start and end, for
// each reporter); the master is killed with SIGKILL; the target comes back
// and the master restarts: every report is delivered once, each build's
// start before its end.
func TestReportsSurviveKill(t *testing.T) {
	t.Parallel()
	const builds = 20
	hooks := []string{"hook", "hook2", "hook3"}
	hook := &hookTarget{}
	srv := &http.Server{Handler: hook}
	l := testkit.Listen(t)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	m := startMaster(t, fmt.Sprintf(reportersConfig, "http://"+l.Addr().String()))
	startWorker(t, m, "w1", "pw1")
	for range builds {
		m.force("quick")
	}
	m.waitBuild("quick", builds)
	for _, h := range hooks {
		m.waitMetric(fmt.Sprintf(`buildmaster_reports_pending\{reporter="%s"\} %d`, h, 2*builds))
	}
	// The master page shows the reporter with its backlog.
	row := fmt.Sprintf("<td>hook</td><td>http_push</td><td>%d</td>", 2*builds)
	testkit.Retry(t, func() error {
		if _, page, _ := m.wwwGetAny("/master"); !bytes.Contains(page, []byte(row)) {
			return fmt.Errorf("/master has no row %s:\n%s", row, page)
		}
		return nil
	})
	m.signal(syscall.SIGKILL)
	m.wait()

	hook.up.Store(true)
	m.start(binary)
	for _, h := range hooks {
		m.waitMetric(fmt.Sprintf(`buildmaster_reports_pending\{reporter="%s"\} 0`, h))
	}
	got := hook.reports()
	if len(got) != len(hooks)*2*builds {
		t.Fatalf("%d reports delivered, want %d: %v", len(got), len(hooks)*2*builds, got)
	}
	seen := map[hookReport]bool{}
	for _, r := range got {
		if seen[r] {
			t.Errorf("report %v delivered twice", r)
		}
		if r.Complete && !seen[hookReport{r.Path, r.BuildID, false}] {
			t.Errorf("%s, build %d: its end arrived before its start", r.Path, r.BuildID)
		}
		seen[r] = true
	}
	for _, h := range hooks {
		m.waitMetric(fmt.Sprintf(`buildmaster_reports_sent_total\{reporter="%s"\} %d`, h, 2*builds))
	}
}

// TestMailReportsFailingStep: a change by alice, whose user in the users
// table has an email attribute, starts a build whose step fails after
// printing 60 lines; the mail reporter sends one mail, over SMTP with
// STARTTLS (the relay's certificate signed by a private CA, tls_ca) and
// AUTH PLAIN (the password from a dir secrets provider) to a real server,
// to alice's address from the users table and the extra
// recipients, whose plain and HTML bodies carry the failing step's last
// lines (and not its first ones).
func TestMailReportsFailingStep(t *testing.T) {
	t.Parallel()
	smtpd := reportertest.NewFakeSMTP(t, reportertest.SMTPOptions{Username: "ci", Password: "smtp-pa55w0rd"})
	dir := t.TempDir() // the secrets: none but them (mode 0600)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, smtpd.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "smtppw"), []byte("smtp-pa55w0rd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startMaster(t, fmt.Sprintf(`
secrets: [{type: dir, path: %q}]
workers:
  - {name: w1, password: pw1}
builders:
  - name: app
    workers: [w1]
    steps:
      - name: test
        shell: {script: 'for i in $(seq 1 60); do echo "output line $i <b>"; done; exit 1'}
schedulers:
  - {name: main, type: single_branch, branch: main, builders: [app]}
change_sources:
  - {name: hook, change_hook: {dialect: base, secret: hooksecret}}
reporters:
  - name: mail
    type: mail
    from: 'ci@example.org'
    relay: %q
    tls_ca: %q
    username: ci
    password: {secret: smtppw}
    extra_recipients: [team@example.org]
`, dir, smtpd.Addr, ca))
	if out, errOut, code := m.cli("user", "--op", "add", "--info", "git=alice,email=alice@corp.example"); code != 0 {
		t.Fatalf("user add: exit %d\n%s%s", code, out, errOut)
	}
	startWorker(t, m, "w1", "pw1")
	m.baseHook("hooksecret", `{"author": "alice", "branch": "main", "revision": "r1", "comments": "break it"}`)
	mail := testkit.Recv(t, "the build's mail", smtpd.Mails())
	if !mail.TLS || mail.User != "ci" {
		t.Errorf("the mail came over TLS %v, logged in as %q; want STARTTLS as ci", mail.TLS, mail.User)
	}
	if want := []string{"alice@corp.example", "team@example.org"}; !slices.Equal(mail.To, want) {
		t.Errorf("recipients %v, want %v (alice from the users table, the extra recipient)", mail.To, want)
	}
	plain, html := mailBodies(t, mail.Data)
	for _, body := range []string{plain, html} {
		if !strings.Contains(body, "output line 60") || !strings.Contains(body, "output line 21 ") {
			t.Errorf("the body lacks the failing step's last 40 lines:\n%s", body)
		}
		if strings.Contains(body, "output line 20 ") || strings.Contains(body, "exit code") {
			t.Errorf("the body has more than the last 40 output lines:\n%s", body)
		}
	}
	if !strings.Contains(html, "output line 60 &lt;b&gt;") {
		t.Errorf("the HTML body does not escape the log:\n%s", html)
	}
	if !strings.Contains(plain, "/api/v2/logs/") {
		t.Errorf("the plain body does not link the log:\n%s", plain)
	}
}

// mailBodies returns the plain and HTML parts of a multipart/alternative
// mail, decoded.
func mailBodies(t *testing.T, data []byte) (plain, html string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			return plain, html
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(part.Header.Get("Content-Type"), "text/html") {
			html = string(body)
		} else {
			plain = string(body)
		}
	}
}
