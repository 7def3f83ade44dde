package botmaster

import "github.com/buildmaster/buildmaster/messages"

// BRDConfig is the message botmaster gives brd with the config brd plans
// with, for tests that make brd plan for a builder botmaster does not run.
func BRDConfig(cfg *messages.MasterConfig) any { return brdConfig{cfg: cfg} }
