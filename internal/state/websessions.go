package state

import (
	"encoding/hex"
	"fmt"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// MaxWebSessions bounds the web sessions kept: past it, StartSession ends
// the one that expires soonest.
const MaxWebSessions = 10000

// MaxSessionGroups bounds the groups a web session records.
const MaxSessionGroups = 256

// WebSessionBySHA256 returns the web session whose id hashes to sum
// (hex), or nil. It does not look at the expiry: the caller compares
// ExpiresAt with its clock.
func WebSessionBySHA256(txn *memdb.Txn, sum string) *messages.WebSession {
	s, _ := First(txn, TableWebSessions, IndexID, sum).(*messages.WebSession)
	return s
}

// applyStartSession records a web login and, when MaxWebSessions are
// open, ends the one that expires soonest (an expired one, if any): O(log
// n), as the row count is kept (Count). The expired sessions are not
// looked for here: the janitor ends them on its timer (Expire).
func applyStartSession(txn *memdb.Txn, _ *ids, c *messages.StartSession) (*messages.CommandResult, error) {
	const kind = "start_session"
	s := c.GetSession()
	switch {
	case s == nil:
		return nil, bad(kind, "session is required")
	case !isSHA256(s.Sha256):
		return nil, bad(kind, "session.sha256 must be 64 hex digits")
	case s.Username == "":
		return nil, bad(kind, "session.username is required")
	case s.ExpiresAt <= s.StartedAt:
		return nil, bad(kind, "session.expires_at %d is not after started_at %d", s.ExpiresAt, s.StartedAt)
	case len(s.Groups) > MaxSessionGroups:
		return nil, bad(kind, "session.groups has %d entries, limit %d", len(s.Groups), MaxSessionGroups)
	}
	if err := checkStr(kind, "session.username", s.Username, MaxFieldBytes); err != nil {
		return nil, err
	}
	if err := checkStr(kind, "session.email", s.Email, MaxFieldBytes); err != nil {
		return nil, err
	}
	for i, g := range s.Groups {
		if err := checkStr(kind, fmt.Sprintf("session.groups[%d]", i), g, MaxFieldBytes); err != nil {
			return nil, err
		}
	}
	if WebSessionBySHA256(txn, s.Sha256) != nil {
		return nil, bad(kind, "session already recorded")
	}
	for n := Count(txn, TableWebSessions); n >= MaxWebSessions; n-- {
		soonest, _ := First(txn, TableWebSessions, IndexExpires+"_prefix").(*messages.WebSession)
		if soonest == nil {
			break
		}
		if err := txn.Delete(TableWebSessions, soonest); err != nil {
			return nil, err
		}
	}
	return &messages.CommandResult{}, txn.Insert(TableWebSessions, proto.CloneOf(s))
}

// expireWebSessions ends the web sessions expired at at (Expire's
// web_sessions_expired_at): those whose expires_at is not after it.
func expireWebSessions(txn *memdb.Txn, at int64) error {
	var gone []*messages.WebSession
	for row := range ScanIndex(txn, TableWebSessions, IndexExpires+"_prefix", false) {
		ws := row.(*messages.WebSession)
		if ws.ExpiresAt > at {
			break
		}
		gone = append(gone, ws)
	}
	for _, ws := range gone {
		if err := txn.Delete(TableWebSessions, ws); err != nil {
			return err
		}
	}
	return nil
}

// isSHA256 says whether s is a SHA-256 in hex.
func isSHA256(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 64 && err == nil
}

// applyEndSession ends a web session (a logout), or every session of a
// user (their password changed): one that is not open (it expired and
// went, or was ended already) is not an error.
func applyEndSession(txn *memdb.Txn, _ *ids, c *messages.EndSession) (*messages.CommandResult, error) {
	const kind = "end_session"
	switch {
	case (c.GetSha256() == "") == (c.GetUsername() == ""):
		return nil, bad(kind, "exactly one of sha256 and username is required")
	case c.GetUsername() != "":
		if err := checkStr(kind, "username", c.Username, MaxFieldBytes); err != nil {
			return nil, err
		}
		var gone []*messages.WebSession
		for row := range Scan(txn, TableWebSessions, false) {
			if ws := row.(*messages.WebSession); ws.Username == c.Username {
				gone = append(gone, ws)
			}
		}
		for _, ws := range gone {
			if err := txn.Delete(TableWebSessions, ws); err != nil {
				return nil, err
			}
		}
		return &messages.CommandResult{}, nil
	case !isSHA256(c.GetSha256()):
		return nil, bad(kind, "sha256 must be 64 hex digits")
	}
	if s := WebSessionBySHA256(txn, c.Sha256); s != nil {
		return &messages.CommandResult{}, txn.Delete(TableWebSessions, s)
	}
	return &messages.CommandResult{}, nil
}
