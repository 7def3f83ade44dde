package config

import (
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

// LoadReplacing loads a config meant to replace current in a running
// master: Load, plus LiveChangeErrors against current. It returns the new
// config, or nil and every error of both kinds at once, sorted, each with
// File set to name.
func LoadReplacing(name string, data []byte, current *messages.MasterConfig) (*messages.MasterConfig, Errors) {
	cfg, err := Load(name, data)
	var errs Errors
	if err != nil && !errors.As(err, &errs) {
		errs = Errors{{File: name, Msg: err.Error()}}
	}
	candidate, src := cfg, (*Source)(nil)
	if candidate == nil {
		// Whatever did decode still counts: a listener change written in
		// the file is reported together with the other errors.
		candidate, src, _ = Parse(name, data)
		ApplyDefaults(candidate)
	}
	live := LiveChangeErrors(current, candidate, src)
	if len(live) > 0 && src == nil {
		_, src, _ = Parse(name, data) // again, only to place the errors
		live = LiveChangeErrors(current, candidate, src)
	}
	for _, e := range live {
		if cfg == nil && !src.written(e.Path) {
			continue // not decoded, so not known to change
		}
		if !belowAny(e.Path, errs) {
			e.File = name
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return cfg, nil
}

// CheckReplacing validates a config that arrives already parsed (a typed
// reconfigure request) to replace current: a copy gets the defaults, then
// Validate and LiveChangeErrors. Errors carry key paths but no lines (the
// sender, who has the file, can place them with its own Source). name is
// used as the errors' File.
func CheckReplacing(name string, cfg, current *messages.MasterConfig) (*messages.MasterConfig, Errors) {
	cfg = proto.Clone(cfg).(*messages.MasterConfig)
	ApplyDefaults(cfg)
	errs := append(Validate(cfg, nil), LiveChangeErrors(current, cfg, nil)...)
	if len(errs) > 0 {
		for _, e := range errs {
			e.File = name
		}
		errs.sort()
		return nil, errs
	}
	return cfg, nil
}
