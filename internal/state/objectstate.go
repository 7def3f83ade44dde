package state

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/messages"
)

// CheckObjectState checks a SetObjectState without the database: the
// names are required and within MaxFieldBytes, the value is valid JSON
// within MaxPropertyValueBytes. The error wraps ErrBadCommand and names the
// field.
func CheckObjectState(c *messages.SetObjectState) error {
	const kind = "set_object_state"
	if c == nil {
		return bad(kind, "empty command")
	}
	for _, f := range []struct{ name, v string }{{"object_name", c.GetObjectName()}, {"class_name", c.GetClassName()}, {"name", c.GetName()}} {
		if f.v == "" {
			return bad(kind, "%s is required", f.name)
		}
		if err := checkStr(kind, f.name, f.v, MaxFieldBytes); err != nil {
			return err
		}
	}
	if err := checkStr(kind, "value_json", c.GetValueJson(), MaxPropertyValueBytes); err != nil {
		return err
	}
	if !json.Valid([]byte(c.GetValueJson())) {
		return bad(kind, "value_json is not valid JSON")
	}
	return nil
}

// applySetObjectState sets name in the state of the object (object_name,
// class_name), adding the object when new; its result is the object's id.
func applySetObjectState(txn *memdb.Txn, seq *ids, c *messages.SetObjectState) (*messages.CommandResult, error) {
	if err := CheckObjectState(c); err != nil {
		return nil, err
	}
	obj, err := get[*messages.StateObject](txn, TableObjects, IndexName, c.GetObjectName(), c.GetClassName())
	if err != nil {
		return nil, err
	}
	if obj == nil {
		id, err := seq.nextID(txn, TableObjects)
		if err != nil {
			return nil, err
		}
		obj = &messages.StateObject{Id: id, Name: c.GetObjectName(), ClassName: c.GetClassName()}
		if err := txn.Insert(TableObjects, obj); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
	}
	st := &messages.ObjectState{Objectid: obj.Id, Name: c.GetName(), ValueJson: c.GetValueJson()}
	return &messages.CommandResult{Id: obj.Id}, txn.Insert(TableObjectState, st)
}

// ObjectState returns the value (JSON) of name in the state of the object
// (objectName, className), and whether it is set (Buildbot's getState).
func ObjectState(txn *memdb.Txn, objectName, className, name string) (string, bool) {
	obj, err := get[*messages.StateObject](txn, TableObjects, IndexName, objectName, className)
	if err != nil || obj == nil {
		return "", false
	}
	st, err := get[*messages.ObjectState](txn, TableObjectState, IndexID, obj.Id, name)
	if err != nil || st == nil {
		return "", false
	}
	return st.ValueJson, true
}
