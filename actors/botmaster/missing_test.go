package botmaster_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/actors/master"
	"github.com/buildmaster/buildmaster/actors/master/mastertest"
	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/internal/report/reportertest"
	"github.com/buildmaster/buildmaster/internal/testkit"
	"github.com/buildmaster/buildmaster/messages"
)

// TestMissingWorkerNotice (Buildbot's missing_timeout and
// notify_on_missing): a worker that goes away is due missing after its
// timeout (its tree node says when); one that attaches again is not (the
// timer is disarmed); a new timeout starts the timer again; and when it
// fires, the mail reporter sends one notice, to the worker's addresses,
// through a real SMTP server.
func TestMissingWorkerNotice(t *testing.T) {
	smtpd := reportertest.NewFakeSMTP(t, reportertest.SMTPOptions{NoSTARTTLS: true})
	m := mastertest.Start(t, fmt.Sprintf(`
workers: [{name: w1, password: pw1, missing_timeout: 1h, notify_on_missing: [ops@example.org, 'Dana <dana@example.org>']}]
reporters:
  - {name: mail, type: mail, from: ci@example.org, relay: %q, tls: none, extra_recipients: [team@example.org]}
`, smtpd.Addr), "", nil)
	missingAt := func() time.Time {
		if at := state(m, "w1").GetMissingAt(); at != nil {
			return at.AsTime()
		}
		return time.Time{}
	}
	// Never connected since the master started: due in an hour.
	if at := missingAt(); at.Before(time.Now().Add(59 * time.Minute)) {
		t.Fatalf("a worker not connected at start is due missing at %v, want in an hour", at)
	}
	connect := func() {
		t.Helper()
		attach(t, m, &fakeConn{worker: "w1", got: make(chan proto.Message, 10)})
		if at := missingAt(); !at.IsZero() {
			t.Fatalf("an attached worker is still due missing at %v", at)
		}
	}
	disconnect := func() {
		t.Helper()
		if err := m.RT.System.Root.StopFuture(m.RT.System.NewLocalPID("fakeconn:w1")).Wait(); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "w1 away and due missing", func() bool {
			return !state(m, "w1").GetConnected() && !missingAt().IsZero()
		})
	}
	connect()
	disconnect()
	connect() // back within the timeout: no notice
	// The worker goes away between leaving and gone (what the notice says,
	// to the second, in UTC: the window, not a date, so midnight is no
	// matter).
	leaving := time.Now().Truncate(time.Second)
	disconnect()
	gone := time.Now()

	// A timeout of 50ms starts the timer again, from the reconfig.
	cfg := proto.CloneOf(m.RT.Config())
	cfg.Workers[0].MissingTimeout = durationpb.New(50 * time.Millisecond)
	reconfig(t, m, cfg)
	mail := testkit.Recv(t, "the missing notice", smtpd.Mails())
	if want := []string{"dana@example.org", "ops@example.org"}; !slices.Equal(mail.To, want) {
		t.Errorf("the notice went to %v, want %v (the worker's addresses only)", mail.To, want)
	}
	body := string(mail.Data)
	if !strings.Contains(body, "Subject: Buildbot Buildbot worker w1 missing") || !strings.Contains(body, "The Buildbot worker named w1 went away.") {
		t.Errorf("the notice:\n%s", body)
	}
	if m := lastDisconnected.FindStringSubmatch(body); m == nil {
		t.Errorf("the notice does not say when it last disconnected:\n%s", body)
	} else if at, err := time.Parse(time.RFC1123, m[1]); err != nil || at.Before(leaving) || at.After(gone) {
		t.Errorf("the notice says it last disconnected at %s (%v), want between %s and %s", m[1], err,
			leaving.UTC().Format(time.RFC1123), gone.UTC().Format(time.RFC1123))
	}
	if at := missingAt(); !at.IsZero() {
		t.Errorf("still due missing at %v after the notice", at)
	}
}

// lastDisconnected finds, in a missing notice, when the worker last
// disconnected (time.RFC1123, in UTC).
var lastDisconnected = regexp.MustCompile(`It last disconnected at (\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} UTC)\.`)

func reconfig(t *testing.T, m *master.Master, cfg *messages.MasterConfig) {
	t.Helper()
	r, err := ask.Ask[*messages.ReconfigureResponse](context.Background(), m.RT.System.Root, m.PID,
		&messages.ReconfigureRequest{Token: mastertest.Token, Config: cfg})
	if err != nil || !r.GetOk() {
		t.Fatalf("reconfig: %v %v", r, err)
	}
}
