// Package users is the `user_manager` service, (Buildbot's UserManagerManager): the parent of the user managers. It accepts
// messages.ApplyConfig.
package users

import (
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
)

// Spec describes the service to the master.
func Spec() service.Spec { return service.Spec{Name: paths.UsersName, Kind: "user_manager_manager"} }
