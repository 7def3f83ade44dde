package config

import (
	"errors"

	"github.com/buildmaster/buildmaster/messages"
)

// LoadReplacing loads a config meant to replace current in a running
// master: Load, plus LiveChangeErrors against current. It returns the new
// config, or nil and every error (each with File set to name).
func LoadReplacing(name string, data []byte, current *messages.MasterConfig) (*messages.MasterConfig, Errors) {
	cfg, err := Load(name, data)
	if err != nil {
		var errs Errors
		if !errors.As(err, &errs) {
			errs = Errors{{File: name, Msg: err.Error()}}
		}
		return nil, errs
	}
	if errs := LiveChangeErrors(current, cfg, nil); len(errs) > 0 {
		_, src, _ := Parse(name, data) // again, only to place the errors
		errs = LiveChangeErrors(current, cfg, src)
		for _, e := range errs {
			e.File = name
		}
		return nil, errs
	}
	return cfg, nil
}
