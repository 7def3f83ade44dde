package config

import _ "embed"

//go:embed examples/master.yaml
var example []byte

// ExampleName is the name the built-in example config is loaded under.
const ExampleName = "builtin:master.yaml"

// Example returns the built-in example config: a commented master.yaml that
// documents every key and passes Load. data is a copy the caller may keep
// and modify.
func Example() (name string, data []byte) {
	return ExampleName, append([]byte(nil), example...)
}
