// Package messages is the Go form of the buildmaster.v1 protobuf schema in
// proto/buildmaster/v1: the master configuration, reconfiguration and control
// requests, the live tree, and the messages between the master's actors.
//
// The *.pb.go files are generated (go tool -modfile=tools/go.mod buf generate)
// and committed; CI fails when they are stale. Hand-written helpers sit next
// to them.
package messages
