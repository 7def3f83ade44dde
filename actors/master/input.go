package master

import (
	"os"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/config"
	"github.com/buildmaster/buildmaster/messages"
)

// input is the config a reconfigure request asks for, before it is checked:
// YAML text (sent, or the master's own file) or a typed config.
type input struct {
	name        string
	yaml        []byte
	typed       *messages.MasterConfig
	fingerprint config.Fingerprint
	secrets     *service.Secrets // set by check
}

// input resolves what a request asks for: its typed config, its YAML, or
// else the master's config file (the built-in example when it has none).
func (m *master) input(req *messages.ReconfigureRequest) (*input, config.Errors) {
	in := &input{name: req.GetConfigName(), yaml: req.GetConfigYaml(), typed: req.GetConfig()}
	if in.name == "" {
		in.name = "reconfigure request"
	}
	switch {
	case in.typed != nil && len(in.yaml) > 0:
		return nil, config.Errors{{File: in.name, Msg: "a reconfigure request carries either config_yaml or config, not both"}}
	case in.typed != nil:
		in.fingerprint = config.FingerprintMessage(in.typed)
		return in, nil
	case len(in.yaml) > 0:
	case m.rt.ConfigPath == "":
		in.name, in.yaml = config.Example()
	default:
		data, err := os.ReadFile(m.rt.ConfigPath)
		if err != nil {
			return nil, config.Errors{{File: m.rt.ConfigPath, Msg: "cannot read the config file: " + err.Error()}}
		}
		in.name, in.yaml = m.rt.ConfigPath, data
	}
	in.fingerprint = config.FingerprintYAML(in.yaml)
	return in, nil
}

// unchanged reports whether the input is the very one the config in force
// was loaded from, so that loading it again would change nothing.
func (in *input) unchanged(rt *service.Runtime) bool {
	return in.fingerprint != (config.Fingerprint{}) && in.fingerprint == rt.Input()
}

// check loads the input, checks it can replace current, and resolves its
// secret references (in.secrets).
func (in *input) check(current *messages.MasterConfig) (*messages.MasterConfig, config.Errors) {
	var cfg *messages.MasterConfig
	var errs config.Errors
	if in.typed != nil {
		cfg, errs = config.CheckReplacing(in.name, in.typed, current)
	} else {
		cfg, errs = config.LoadReplacing(in.name, in.yaml, current)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	cfg, sec, err := resolveSecrets(cfg)
	if err != nil {
		return nil, config.Errors{{File: in.name, Msg: "secrets: " + err.Error()}}
	}
	in.secrets = sec
	return cfg, nil
}
