package state

import (
	"testing"

	"github.com/buildmaster/buildmaster/messages"
)

// TestUsers runs the users tables through what the user manager and the
// change manager write: users added by `buildmaster user` and by change
// authors, updated, given tokens, and removed with all that is theirs.
// The database after each phase is compared with testdata/users.golden.
func TestUsers(t *testing.T) {
	db := fixture(t)
	sc := &scenario{t: t, db: db}
	attr := func(kv ...string) []*messages.UserInfo {
		var out []*messages.UserInfo
		for i := 0; i < len(kv); i += 2 {
			out = append(out, &messages.UserInfo{AttrType: kv[i], AttrData: kv[i+1]})
		}
		return out
	}
	pw := "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5"
	sc.phase("alice added with git and email; a second add by her git address finds her",
		cmd(&messages.AddUser{Identifier: "alice", BbUsername: "alice", BbPassword: pw, Attrs: attr("git", "Alice <a@x>", "email", "a@x")}),
		cmd(&messages.AddUser{Identifier: "other", Attrs: attr("git", "Alice <a@x>")}),
	)
	ch := change("Alice <a@x>", "main", 200)
	ch2 := change("Bob <b@x>", "main", 201)
	sc.phase("changes by alice (git) and by bob: alice's attached to her, bob added by his author string",
		cmd(&messages.AddChange{Change: ch, AuthorVc: "git"}),
		cmd(&messages.AddChange{Change: ch2, AuthorVc: "git"}),
	)
	sc.phase("a user named like bob's identifier gets a suffix; alice's email changes, her git goes",
		cmd(&messages.AddUser{Identifier: "Bob <b@x>", Attrs: attr("svn", "bob")}),
		cmd(&messages.UpdateUser{Identifier: "alice", Attrs: attr("email", "alice@x", "git", "")}),
	)
	sc.phase("alice gets a token",
		cmd(&messages.AddApiToken{Identifier: "alice", Name: "ci", Sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", CreatedAt: 300}),
	)
	sc.refused(cmd(&messages.AddApiToken{Identifier: "alice", Sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}), "already recorded")
	sc.refused(cmd(&messages.AddApiToken{Identifier: "nobody", Sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}), "no user \"nobody\"")
	sc.refused(cmd(&messages.RevokeApiToken{Identifier: "Bob <b@x>", Id: 1}), "has no token 1")
	sc.refused(cmd(&messages.AddUser{Identifier: "x", BbUsername: "alice"}), "bb_username \"alice\" belongs to another user")
	sc.refused(cmd(&messages.UpdateUser{Identifier: "Bob <b@x>", Attrs: attr("email", "alice@x")}), "belongs to user \"alice\"")
	sc.refused(cmd(&messages.AddUser{Identifier: "x", Attrs: attr("git", "a", "git", "b")}), "given twice")
	sc.refused(cmd(&messages.RemoveUser{}), "identifier is required")
	sc.phase("alice removed: her attributes, token and change_users rows go",
		cmd(&messages.RemoveUser{Identifier: "alice"}),
	)
	sc.golden("users.golden")
}
