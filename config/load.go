package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/buildmaster/buildmaster/messages"
)

// Load parses data (the file name), applies the defaults and validates the
// result. On success it returns the config ready to use. Otherwise it returns
// a nil config and every error as [Errors], sorted, each with File set to
// name: the decoding errors together with the validation errors, except those
// that lie at or below a key that could not be decoded (which would only
// repeat the decoding error).
func Load(name string, data []byte) (*messages.MasterConfig, error) {
	cfg, src, err := Parse(name, data)
	errs, _ := err.(Errors) // Parse returns nothing else
	decoding := errs[:len(errs):len(errs)]
	ApplyDefaults(cfg)
	for _, ve := range validate(cfg, src, false) {
		if !belowAny(ve.Path, decoding) {
			errs = append(errs, ve)
		}
	}
	if len(errs) == 0 {
		return cfg, nil
	}
	for _, e := range errs {
		e.File = name
	}
	return nil, errs.err()
}

// belowAny reports whether path lies at or below the path of one of errs.
func belowAny(path string, errs Errors) bool {
	for _, e := range errs {
		if under(path, e.Path) {
			return true
		}
	}
	return false
}

// LoadFile reads the config file at path and loads it (see Load). A file that
// cannot be read gives an *Error naming it, which unwraps to the cause.
func LoadFile(path string) (*messages.MasterConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		cause := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			cause = pe.Err // the path is in File already
		}
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read config file: %v", cause), err: err}
	}
	return Load(path, data)
}
