// Package config reads the master's YAML config file into a
// messages.MasterConfig, validates it, and supplies the defaults and the
// built-in example config.
//
// The file format is the protobuf schema in proto/buildmaster/v1/config.proto
// spelled as YAML, decoded generically from the descriptor:
//
//   - keys are the proto field names (snake_case); an unknown key is an error;
//   - repeated fields are sequences, map fields are mappings, messages are
//     mappings, and a oneof takes one of its members;
//   - a string field takes any scalar as written (title: 1.0 is "1.0"); a
//     bool takes true or false; an integer takes a YAML integer (not a quoted
//     one) within the field's range;
//   - google.protobuf.Duration fields take Go durations ("30s", "1m30s",
//     "1h"), never negative;
//   - enums are written in lower case without their prefix ("single_branch"
//     for SCHEDULER_TYPE_SINGLE_BRANCH); the _UNSPECIFIED value is refused;
//   - a null value ("key:" or "key: ~") is the same as leaving the key out; a
//     null list element is kept as an empty element, so indexes match the file;
//   - anchors may be declared, but aliases and merge keys ("<<") are refused:
//     every value is written out where it is used, so each error points at the
//     one line that holds it; a file holds one YAML document.
//
// Loading never stops at the first problem. [Parse] reports every decoding
// error (unknown key, wrong type, bad scalar, duplicate key, two members of a
// oneof), [Validate] every semantic one, and [Load] returns both together as
// [Errors], sorted in file order, each with the file, line, column and key
// path of the offending key. Values of fields marked (buildmaster.v1.secret)
// never appear in an error.
//
// Deliberately unlike Buildbot, a config without workers, without builders,
// or with builders that no scheduler drives is valid: an empty master is a
// legitimate (if idle) master, and a config may be built up one reconfig at
// a time.
package config
