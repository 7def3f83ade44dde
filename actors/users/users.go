// Package users is the `user_manager` service, (Buildbot's UserManagerManager): the parent of the user managers. It accepts
// messages.ApplyConfig.
package users

import "github.com/buildmaster/buildmaster/actors/service"

// Name is the service's name in the tree.
const Name = "user_manager"

// Spec describes the service to the master.
func Spec() service.Spec { return service.Spec{Name: Name, Kind: "user_manager_manager"} }
