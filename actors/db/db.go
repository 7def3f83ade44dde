// Package db is the `db` service, (Buildbot's DBConnector): the only owner of the master's state. It accepts
// messages.ApplyConfig.
package db

import "github.com/buildmaster/buildmaster/actors/service"

// Name is the service's name in the tree.
const Name = "db"

// Spec describes the service to the master.
func Spec() service.Spec { return service.Spec{Name: Name, Kind: "db_connector"} }
