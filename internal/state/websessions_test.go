package state

import (
	"fmt"
	"strings"
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// sessionSum is a SHA-256 in hex made of the digit c.
func sessionSum(c byte) string { return strings.Repeat(string(c), 64) }

func startSession(sum, user string, started, expires int64) *messages.Command {
	return cmd(&messages.StartSession{Session: &messages.WebSession{Sha256: sum, Username: user, Email: user + "@x",
		Groups: []string{"dev"}, StartedAt: started, ExpiresAt: expires}})
}

// TestWebSessions runs the web_sessions table through logins and logouts:
// a logout ends its session (twice is no error), a login leaves expired
// sessions alone (the janitor's Expire ends those expired at its time, and
// no other), ending a user's sessions ends all of theirs and no one
// else's, and malformed commands are refused without a write. The
// database after each phase is compared with testdata/websessions.golden.
func TestWebSessions(t *testing.T) {
	sc := &scenario{t: t, db: newDB(t)}
	sc.phase("alice and bob log in",
		startSession(sessionSum('a'), "alice", 1000, 2000),
		startSession(sessionSum('b'), "bob", 1100, 1500))
	sc.phase("alice logs out, twice",
		cmd(&messages.EndSession{Sha256: sessionSum('a')}),
		cmd(&messages.EndSession{Sha256: sessionSum('a')}))
	sc.phase("carol logs in when bob's session has expired: it stays",
		startSession(sessionSum('c'), "carol", 1500, 3000))
	sc.phase("the janitor ends the sessions expired at 1500: bob's",
		cmd(&messages.Expire{WebSessionsExpiredAt: 1500}))
	sc.phase("carol logs in twice more, dave once; carol's password changes: her sessions end",
		startSession(sessionSum('d'), "carol", 1600, 3600),
		startSession(sessionSum('e'), "dave", 1600, 3600),
		startSession(sessionSum('f'), "carol", 1700, 3700),
		cmd(&messages.EndSession{Username: "carol"}),
		cmd(&messages.EndSession{Username: "carol"}))
	for _, tc := range []struct {
		c    *messages.Command
		want string
	}{
		{cmd(&messages.StartSession{}), "session is required"},
		{startSession("abc", "dave", 1, 2), "sha256 must be 64 hex digits"},
		{startSession(strings.Repeat("x", 64), "dave", 1, 2), "sha256 must be 64 hex digits"},
		{startSession(sessionSum('d'), "", 1, 2), "session.username is required"},
		{startSession(sessionSum('d'), "dave", 2, 2), "expires_at 2 is not after started_at 2"},
		{startSession(sessionSum('e'), "dave", 1600, 3600), "session already recorded"},
		{startSession(sessionSum('d'), strings.Repeat("d", MaxFieldBytes+1), 1, 2), "session.username is"},
		{cmd(&messages.EndSession{Sha256: "x"}), "end_session: sha256 must be 64 hex digits"},
		{cmd(&messages.EndSession{}), "end_session: exactly one of sha256 and username"},
		{cmd(&messages.EndSession{Sha256: sessionSum('e'), Username: "dave"}), "end_session: exactly one of sha256 and username"},
		{cmd(&messages.EndSession{Username: strings.Repeat("d", MaxFieldBytes+1)}), "end_session: username is"},
		{cmd(&messages.Expire{WebSessionsExpiredAt: -1}), "expire: web_sessions_expired_at -1 is negative"},
	} {
		sc.refused(tc.c, tc.want)
	}
	sc.golden("websessions.golden")
}

// TestWebSessionsBounded: with MaxWebSessions open, a login ends the one
// that expires soonest, and the table stays at MaxWebSessions.
func TestWebSessionsBounded(t *testing.T) {
	db := newDB(t)
	txn := db.Txn(true)
	txn.TrackChanges()
	for i := range MaxWebSessions {
		s := &messages.WebSession{Sha256: fmt.Sprintf("%064d", i), Username: "u", StartedAt: 10, ExpiresAt: int64(2000 + i)}
		if err := txn.Insert(TableWebSessions, s); err != nil {
			t.Fatal(err)
		}
	}
	Recount(txn) // as a Store does: the bound is checked on the row count
	txn.Commit()
	mustApply(t, db, startSession(sessionSum('e'), "new", 1000, 5000))
	read := db.Txn(false)
	n := 0
	for range Scan(read, TableWebSessions, false) {
		n++
	}
	if n != MaxWebSessions || WebSessionBySHA256(read, fmt.Sprintf("%064d", 0)) != nil ||
		WebSessionBySHA256(read, fmt.Sprintf("%064d", 1)) == nil || WebSessionBySHA256(read, sessionSum('e')) == nil {
		t.Fatalf("%d sessions after a login past the bound; the soonest to expire should have gone", n)
	}
}
