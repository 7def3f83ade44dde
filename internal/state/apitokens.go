package state

import (
	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// MaxApiTokens bounds the API tokens one user holds.
const MaxApiTokens = 100

// ApiTokenBySHA256 returns the token whose hash is sum (hex), or nil.
func ApiTokenBySHA256(txn *memdb.Txn, sum string) *messages.ApiToken {
	t, _ := First(txn, TableApiTokens, IndexSHA256, sum).(*messages.ApiToken)
	return t
}

// applyAddApiToken records a token's hash for a user.
func applyAddApiToken(txn *memdb.Txn, seq *ids, c *messages.AddApiToken) (*messages.CommandResult, error) {
	const kind = "add_api_token"
	u, err := userNamed(txn, kind, c.GetIdentifier())
	if err != nil {
		return nil, err
	}
	if len(c.Sha256) != 64 {
		return nil, bad(kind, "sha256 must be 64 hex digits")
	}
	if err := checkStr(kind, "name", c.Name, MaxFieldBytes); err != nil {
		return nil, err
	}
	if ApiTokenBySHA256(txn, c.Sha256) != nil {
		return nil, bad(kind, "token already recorded")
	}
	n := 0
	for range ScanIndex(txn, TableApiTokens, IndexUID, false, u.Uid) {
		n++
	}
	if n >= MaxApiTokens {
		return nil, bad(kind, "user %q already holds %d tokens, limit %d", u.Identifier, n, MaxApiTokens)
	}
	id, err := seq.nextID(txn, TableApiTokens)
	if err != nil {
		return nil, err
	}
	t := &messages.ApiToken{Id: id, Uid: u.Uid, Name: c.Name, Sha256: c.Sha256, CreatedAt: c.CreatedAt}
	return &messages.CommandResult{Id: id}, txn.Insert(TableApiTokens, t)
}

// applyRevokeApiToken removes a user's token.
func applyRevokeApiToken(txn *memdb.Txn, _ *ids, c *messages.RevokeApiToken) (*messages.CommandResult, error) {
	const kind = "revoke_api_token"
	u, err := userNamed(txn, kind, c.GetIdentifier())
	if err != nil {
		return nil, err
	}
	t, _ := Lookup(txn, TableApiTokens, c.Id).(*messages.ApiToken)
	if t == nil || t.Uid != u.Uid {
		return nil, bad(kind, "user %q has no token %d", u.Identifier, c.Id)
	}
	return &messages.CommandResult{Id: t.Id}, txn.Delete(TableApiTokens, t)
}
