// Package config reads the master's YAML config file into a
// messages.MasterConfig, validates it, and supplies the defaults and the
// built-in example config.
//
// The file format is the protobuf schema in proto/buildmaster/v1/config.proto
// spelled as YAML: keys are the proto field names (snake_case), repeated
// fields are sequences, map fields are mappings, google.protobuf.Duration
// fields are Go duration strings ("30s", "1m30s"), and enums are written in
// lower case without their prefix ("single_branch" for
// SCHEDULER_TYPE_SINGLE_BRANCH). A null value ("key:" or "key: ~") is the
// same as leaving the key out. YAML anchors may be declared but aliases and
// merge keys ("<<") are rejected: every value is written out where it is used,
// so every error points at the one line that holds it.
//
// Loading never stops at the first problem. [Parse] reports every decoding
// error (unknown key, wrong type, bad scalar, duplicate key, two members of a
// oneof), [Validate] every semantic one, and [Load] returns both together as
// [Errors], each with the file, line, column and key path of the offending
// key. Values of fields marked (buildmaster.v1.secret) never appear in an
// error.
//
// Deliberately unlike Buildbot, a config without workers, without builders,
// or with builders that no scheduler drives is valid: an empty master is a
// legitimate (if idle) master, and a config may be built up one reconfig at
// a time.
package config
