// Package status is the `status` service, the data API and event stream, and the parent of status listeners. It accepts
// messages.ApplyConfig.
package status

import "github.com/buildmaster/buildmaster/actors/service"

// Name is the service's name in the tree.
const Name = "status"

// Spec describes the service to the master.
func Spec() service.Spec { return service.Spec{Name: Name, Kind: "status"} }
