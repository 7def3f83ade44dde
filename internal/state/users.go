package state

import (
	"fmt"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// MaxUserAttrs bounds the attributes one user command carries.
const MaxUserAttrs = 64

// checkAttrs checks the attributes of a user command: typed, within
// limits, each type once.
func checkAttrs(kind string, attrs []*messages.UserInfo) error {
	if len(attrs) > MaxUserAttrs {
		return bad(kind, "attrs has %d entries, limit %d", len(attrs), MaxUserAttrs)
	}
	seen := map[string]bool{}
	for i, a := range attrs {
		where := fmt.Sprintf("attrs[%d]", i)
		if a == nil || a.AttrType == "" {
			return bad(kind, "%s has no attr_type", where)
		}
		if seen[a.AttrType] {
			return bad(kind, "%s: attr_type %q given twice", where, a.AttrType)
		}
		seen[a.AttrType] = true
		if err := checkStr(kind, where+".attr_type", a.AttrType, MaxFieldBytes); err != nil {
			return err
		}
		if err := checkStr(kind, where+".attr_data", a.AttrData, MaxFieldBytes); err != nil {
			return err
		}
	}
	return nil
}

// UserByIdentifier returns the user whose identifier is id, or nil.
func UserByIdentifier(txn *memdb.Txn, id string) *messages.User {
	u, _ := First(txn, TableUsers, IndexIdentifier, id).(*messages.User)
	return u
}

// UserByUsername returns the user whose bb_username is name, or nil.
func UserByUsername(txn *memdb.Txn, name string) *messages.User {
	if name == "" {
		return nil
	}
	u, _ := First(txn, TableUsers, IndexUsername, name).(*messages.User)
	return u
}

// UserByAttr returns the user whose attribute attrType is data, or nil.
func UserByAttr(txn *memdb.Txn, attrType, data string) *messages.User {
	a, _ := First(txn, TableUsersInfo, IndexAttr, attrType, data).(*messages.UserInfo)
	if a == nil {
		return nil
	}
	u, _ := Lookup(txn, TableUsers, a.Uid).(*messages.User)
	return u
}

// UserAttrs returns the attributes of user uid by type.
func UserAttrs(txn *memdb.Txn, uid uint64) map[string]string {
	out := map[string]string{}
	for raw := range ScanIndex(txn, TableUsersInfo, IndexID+"_prefix", false, uid) {
		a := raw.(*messages.UserInfo)
		out[a.AttrType] = a.AttrData
	}
	return out
}

// applyAddUser adds a user, or finds the one that already has one of its
// attributes (Buildbot's findUserByAttr).
func applyAddUser(txn *memdb.Txn, seq *ids, c *messages.AddUser) (*messages.CommandResult, error) {
	const kind = "add_user"
	if c == nil {
		return nil, bad(kind, "empty command")
	}
	if c.Identifier == "" {
		return nil, bad(kind, "identifier is required")
	}
	for _, f := range []struct{ name, v string }{{"identifier", c.Identifier}, {"bb_username", c.BbUsername}, {"bb_password", c.BbPassword}} {
		if err := checkStr(kind, f.name, f.v, MaxFieldBytes); err != nil {
			return nil, err
		}
	}
	if err := checkAttrs(kind, c.Attrs); err != nil {
		return nil, err
	}
	for _, a := range c.Attrs {
		if u := UserByAttr(txn, a.AttrType, a.AttrData); u != nil {
			return &messages.CommandResult{Id: u.Uid}, nil
		}
	}
	if UserByUsername(txn, c.BbUsername) != nil {
		return nil, bad(kind, "bb_username %q belongs to another user", c.BbUsername)
	}
	ident := c.Identifier
	for n := 2; UserByIdentifier(txn, ident) != nil; n++ {
		ident = fmt.Sprintf("%s_%d", c.Identifier, n)
	}
	uid, err := seq.nextID(txn, TableUsers)
	if err != nil {
		return nil, err
	}
	if err := txn.Insert(TableUsers, &messages.User{Uid: uid, Identifier: ident, BbUsername: c.BbUsername, BbPassword: c.BbPassword}); err != nil {
		return nil, err
	}
	for _, a := range c.Attrs {
		if err := txn.Insert(TableUsersInfo, &messages.UserInfo{Uid: uid, AttrType: a.AttrType, AttrData: a.AttrData}); err != nil {
			return nil, err
		}
	}
	return &messages.CommandResult{Id: uid}, nil
}

// applyUpdateUser changes a user's credentials and attributes.
func applyUpdateUser(txn *memdb.Txn, _ *ids, c *messages.UpdateUser) (*messages.CommandResult, error) {
	const kind = "update_user"
	u, err := userNamed(txn, kind, c.GetIdentifier())
	if err != nil {
		return nil, err
	}
	if err := checkAttrs(kind, c.Attrs); err != nil {
		return nil, err
	}
	u = proto.Clone(u).(*messages.User)
	if c.BbUsername != nil {
		if other := UserByUsername(txn, *c.BbUsername); other != nil && other.Uid != u.Uid {
			return nil, bad(kind, "bb_username %q belongs to another user", *c.BbUsername)
		}
		if err := checkStr(kind, "bb_username", *c.BbUsername, MaxFieldBytes); err != nil {
			return nil, err
		}
		u.BbUsername = *c.BbUsername
	}
	if c.BbPassword != nil {
		if err := checkStr(kind, "bb_password", *c.BbPassword, MaxFieldBytes); err != nil {
			return nil, err
		}
		u.BbPassword = *c.BbPassword
	}
	for _, a := range c.Attrs {
		if a.AttrData != "" {
			if other := UserByAttr(txn, a.AttrType, a.AttrData); other != nil && other.Uid != u.Uid {
				return nil, bad(kind, "%s %q belongs to user %q", a.AttrType, a.AttrData, other.Identifier)
			}
		}
	}
	if err := txn.Insert(TableUsers, u); err != nil {
		return nil, err
	}
	for _, a := range c.Attrs {
		row := &messages.UserInfo{Uid: u.Uid, AttrType: a.AttrType, AttrData: a.AttrData}
		if a.AttrData == "" {
			if _, err := txn.DeleteAll(TableUsersInfo, IndexID, u.Uid, a.AttrType); err != nil {
				return nil, err
			}
			continue
		}
		if err := txn.Insert(TableUsersInfo, row); err != nil {
			return nil, err
		}
	}
	return &messages.CommandResult{Id: u.Uid}, nil
}

// applyRemoveUser removes a user and everything that is only theirs.
func applyRemoveUser(txn *memdb.Txn, _ *ids, c *messages.RemoveUser) (*messages.CommandResult, error) {
	const kind = "remove_user"
	u, err := userNamed(txn, kind, c.GetIdentifier())
	if err != nil {
		return nil, err
	}
	if err := txn.Delete(TableUsers, u); err != nil {
		return nil, err
	}
	for _, t := range []struct{ table, index string }{{TableUsersInfo, IndexID + "_prefix"}, {TableApiTokens, IndexUID}, {TableChangeUsers, IndexUID}} {
		if _, err := txn.DeleteAll(t.table, t.index, u.Uid); err != nil {
			return nil, err
		}
	}
	return &messages.CommandResult{Id: u.Uid}, nil
}

// userNamed returns the user identifier names, or a bad-command error.
func userNamed(txn *memdb.Txn, kind, identifier string) (*messages.User, error) {
	if identifier == "" {
		return nil, bad(kind, "identifier is required")
	}
	u := UserByIdentifier(txn, identifier)
	if u == nil {
		return nil, bad(kind, "no user %q", identifier)
	}
	return u, nil
}

// attachAuthor records the change's author as a user (found by the
// attribute vc, or added) in change_users.
func attachAuthor(txn *memdb.Txn, seq *ids, ch *messages.Change, vc string) error {
	if vc == "" || ch.Author == "" {
		return nil
	}
	res, err := applyAddUser(txn, seq, &messages.AddUser{Identifier: ch.Author,
		Attrs: []*messages.UserInfo{{AttrType: vc, AttrData: ch.Author}}})
	if err != nil {
		return fmt.Errorf("author: %w", err)
	}
	return txn.Insert(TableChangeUsers, &messages.ChangeUser{Changeid: ch.Changeid, Uid: res.Id})
}
