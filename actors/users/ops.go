package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// user carries out `buildmaster user`, as Buildbot's
// CommandlineUserManagerPerspective does, and answers its text.
func (m *manager) user(ctx context.Context, req *messages.UserRequest) (*messages.UserResponse, error) {
	if err := checkUserRequest(req); err != nil {
		return nil, err
	}
	var hash *string
	if req.GetBbPassword() != "" {
		h, err := m.hasher.Hash(ctx, req.GetBbPassword())
		if err != nil {
			return nil, fmt.Errorf("user: hash the password: %w", err)
		}
		hash = &h
	}
	var bbUser *string
	if req.GetBbUsername() != "" {
		bbUser = &req.BbUsername
	}
	res := &messages.UserResponse{}
	var text strings.Builder
	switch req.GetOp() {
	case messages.UserOp_USER_OP_ADD:
		text.WriteString("user(s) added:\n")
		for _, info := range req.GetInfo() {
			attrs := info.GetAttrs()
			ident := slices.Sorted(maps.Values(attrs))[0] // Buildbot: the first value in sort order
			r, err := m.call(ctx, &messages.AddUser{Identifier: ident, Attrs: userInfos(attrs)})
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&text, "identifier: %s\nuid: %d\n\n", ident, r.GetId())
		}
	case messages.UserOp_USER_OP_UPDATE:
		text.WriteString("user(s) updated:\n")
		for _, info := range req.GetInfo() {
			attrs := maps.Clone(info.GetAttrs())
			ident := attrs["identifier"]
			delete(attrs, "identifier")
			if _, err := m.call(ctx, &messages.UpdateUser{Identifier: ident, BbUsername: bbUser, BbPassword: hash, Attrs: userInfos(attrs)}); err != nil {
				return nil, err
			}
			if bbUser != nil && hash != nil { // a new web password: the sessions of the old one end
				if _, err := m.call(ctx, &messages.EndSession{Username: *bbUser}); err != nil {
					return nil, err
				}
			}
			fmt.Fprintf(&text, "identifier: %s\n", ident)
		}
	case messages.UserOp_USER_OP_REMOVE:
		text.WriteString("user(s) removed:\n")
		for _, id := range req.GetIds() {
			if _, err := m.call(ctx, &messages.RemoveUser{Identifier: id}); err != nil {
				if state.UserByIdentifier(m.RT.DB.Read(), id) == nil {
					continue // Buildbot: nothing to remove, no line
				}
				return nil, err
			}
			fmt.Fprintf(&text, "identifier: %s\n", id)
		}
	case messages.UserOp_USER_OP_GET:
		text.WriteString("user(s) found:\n")
		txn := m.RT.DB.Read()
		for _, id := range req.GetIds() {
			u := state.UserByIdentifier(txn, id)
			if u == nil {
				text.WriteString("no match found\n")
				continue
			}
			v := &messages.UserView{Uid: u.Uid, Identifier: u.Identifier, BbUsername: u.BbUsername, Attrs: state.UserAttrs(txn, u.Uid)}
			res.Users = append(res.Users, v)
			fields := map[string]string{"uid": fmt.Sprint(u.Uid), "identifier": u.Identifier, "bb_username": u.BbUsername}
			maps.Copy(fields, v.Attrs)
			for _, k := range slices.Sorted(maps.Keys(fields)) {
				fmt.Fprintf(&text, "%s: %s\n", k, fields[k])
			}
			text.WriteString("\n")
		}
	}
	res.Text = text.String()
	return res, nil
}

// checkUserRequest applies Buildbot's rules on the flags.
func checkUserRequest(req *messages.UserRequest) error {
	op := req.GetOp()
	if op == messages.UserOp_USER_OP_UNSPECIFIED {
		return fmt.Errorf("user: you must specify an operation: add, remove, update, get")
	}
	if (req.GetBbUsername() != "") != (req.GetBbPassword() != "") {
		return fmt.Errorf("user: must specify both bb_username and bb_password or neither")
	}
	if req.GetBbUsername() != "" && op != messages.UserOp_USER_OP_UPDATE {
		return fmt.Errorf("user: bb_username and bb_password only work with update")
	}
	if len(req.GetInfo()) == 0 && len(req.GetIds()) == 0 {
		return fmt.Errorf("user: must specify either --ids or --info")
	}
	switch op {
	case messages.UserOp_USER_OP_ADD, messages.UserOp_USER_OP_UPDATE:
		if len(req.GetIds()) > 0 {
			return fmt.Errorf("user: cannot use --ids with 'add' or 'update'")
		}
		for _, info := range req.GetInfo() {
			_, hasID := info.GetAttrs()["identifier"]
			if op == messages.UserOp_USER_OP_UPDATE && !hasID {
				return fmt.Errorf("user: no ids found in update info; use: --info=id:type=value,type=value")
			}
			if op == messages.UserOp_USER_OP_ADD && (hasID || len(info.GetAttrs()) == 0) {
				return fmt.Errorf("user: identifier found in add info, use: --info=type=value,type=value")
			}
		}
	default:
		if len(req.GetInfo()) > 0 {
			return fmt.Errorf("user: cannot use --info with 'remove' or 'get'")
		}
	}
	return nil
}

func userInfos(attrs map[string]string) []*messages.UserInfo {
	var out []*messages.UserInfo
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		out = append(out, &messages.UserInfo{AttrType: k, AttrData: attrs[k]})
	}
	return out
}

// call submits one command through the db service.
func (m *manager) call(ctx context.Context, k proto.Message) (*messages.CommandResult, error) {
	return db.Call(ctx, m.RT.System, messages.NewCommand(k))
}

// TokenPrefix starts every API token, so that one found in a log or a
// repository is recognised.
const TokenPrefix = "bmt_"

// apiToken creates, lists or revokes a user's API tokens.
func (m *manager) apiToken(ctx context.Context, req *messages.ApiTokenRequest) (*messages.ApiTokenResponse, error) {
	switch req.GetOp() {
	case messages.ApiTokenOp_API_TOKEN_OP_CREATE:
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		secret := TokenPrefix + hex.EncodeToString(raw)
		sum := sha256.Sum256([]byte(secret))
		r, err := m.call(ctx, &messages.AddApiToken{Identifier: req.GetUser(), Name: req.GetName(),
			Sha256: hex.EncodeToString(sum[:]), CreatedAt: time.Now().Unix()})
		if err != nil {
			return nil, err
		}
		return &messages.ApiTokenResponse{Secret: secret, Tokens: []*messages.ApiTokenView{{Id: r.GetId(), Name: req.GetName()}}}, nil
	case messages.ApiTokenOp_API_TOKEN_OP_LIST:
		txn := m.RT.DB.Read()
		u := state.UserByIdentifier(txn, req.GetUser())
		if u == nil {
			return nil, fmt.Errorf("token: no user %q", req.GetUser())
		}
		res := &messages.ApiTokenResponse{}
		for raw := range state.ScanIndex(txn, state.TableApiTokens, state.IndexUID, false, u.Uid) {
			t := raw.(*messages.ApiToken)
			res.Tokens = append(res.Tokens, &messages.ApiTokenView{Id: t.Id, Name: t.Name, CreatedAt: t.CreatedAt})
		}
		return res, nil
	case messages.ApiTokenOp_API_TOKEN_OP_REVOKE:
		if _, err := m.call(ctx, &messages.RevokeApiToken{Identifier: req.GetUser(), Id: req.GetId()}); err != nil {
			return nil, err
		}
		return &messages.ApiTokenResponse{}, nil
	}
	return nil, fmt.Errorf("token: no operation (create, list, revoke)")
}
