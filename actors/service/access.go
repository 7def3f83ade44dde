package service

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/auth/authz"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// TokenHolder returns who holds the API token token (users' tokens are
// kept as their SHA-256 in api_tokens), as of now: a removed user's or a
// revoked token proves nothing.
func TokenHolder(rt *Runtime, token string) (auth.Identity, bool) {
	if token == "" || rt.DB == nil {
		return auth.Identity{}, false
	}
	sum := sha256.Sum256([]byte(token))
	return TokenHolderBySum(rt, hex.EncodeToString(sum[:]))
}

// TokenHolderBySum is TokenHolder of the token whose SHA-256 (hex) is sum.
func TokenHolderBySum(rt *Runtime, sum string) (auth.Identity, bool) {
	txn := rt.DB.Read()
	t := state.ApiTokenBySHA256(txn, sum)
	if t == nil {
		return auth.Identity{}, false
	}
	u, _ := state.Lookup(txn, state.TableUsers, t.Uid).(*messages.User)
	if u == nil {
		return auth.Identity{}, false
	}
	return UserIdentity(txn, u), true
}

// UserIdentity is who user u is to the authz rules: their web username
// (or else identifier) and email.
func UserIdentity(txn *memdb.Txn, u *messages.User) auth.Identity {
	name := u.BbUsername
	if name == "" {
		name = u.Identifier
	}
	return auth.Identity{Username: name, Email: state.UserAttrs(txn, u.Uid)["email"]}
}

// ControlRequest describes a control message to the authz rules; false
// for the messages only the admin token may send (reconfig, stop the
// master, user management).
func ControlRequest(rt *Runtime, m any) (authz.Request, bool) {
	switch m := m.(type) {
	case *messages.ForceBuildRequest:
		return authz.Request{Action: authz.Force, Builder: m.GetBuilder(), Branch: m.GetBranch(), Project: m.GetProject()}, true
	case *messages.StopBuildRequest:
		req := authz.Request{Action: authz.Stop, Builder: m.GetBuilder()}
		if rt.DB != nil {
			txn := rt.DB.Read()
			if b, _ := state.First(txn, state.TableBuilders, state.IndexName, m.GetBuilder()).(*messages.Builder); b != nil {
				if build, _ := state.First(txn, state.TableBuilds, state.IndexBuilderNumber, b.Id, m.GetNumber()).(*messages.Build); build != nil {
					req = BuildRequest(txn, authz.Stop, build)
				}
			}
		}
		return req, true
	case *messages.WorkerControlRequest, *messages.SendChangeRequest:
		return authz.Request{Action: authz.Control}, true
	}
	return authz.Request{}, false
}

// BuildRequest describes action on build to the authz rules: its builder,
// branch, project and owner.
func BuildRequest(txn *memdb.Txn, action string, b *messages.Build) authz.Request {
	req := authz.Request{Action: action}
	if bl, _ := state.Lookup(txn, state.TableBuilders, b.Builderid).(*messages.Builder); bl != nil {
		req.Builder = bl.Name
	}
	props := map[string]string{}
	add := func(ps []*messages.Property) {
		for _, p := range ps {
			var s string
			if json.Unmarshal([]byte(p.ValueJson), &s) == nil {
				props[p.Name] = s
			}
		}
	}
	if br, _ := state.Lookup(txn, state.TableBuildRequests, b.Buildrequestid).(*messages.BuildRequest); br != nil {
		if bs, _ := state.Lookup(txn, state.TableBuildsets, br.Buildsetid).(*messages.Buildset); bs != nil {
			add(bs.Properties)
		}
	}
	add(b.Properties)
	req.Branch, req.Project, req.Owner = props["branch"], props["project"], props["owner"]
	return req
}
