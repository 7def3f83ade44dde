package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/messages"
)

func TestErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		err  Error
		want string
	}{
		{Error{File: "m.yaml", Line: 3, Column: 5, Path: "workers[0].name", Msg: "bad"}, "m.yaml:3:5: workers[0].name: bad"},
		{Error{File: "m.yaml", Line: 3, Path: "title", Msg: "bad"}, "m.yaml:3: title: bad"},
		{Error{File: "m.yaml", Path: "title", Msg: "bad"}, "m.yaml: title: bad"},
		{Error{File: "m.yaml", Line: 2, Column: 1, Msg: "bad"}, "m.yaml:2:1: bad"},
		{Error{Line: 2, Column: 1, Path: "title", Msg: "bad"}, "2:1: title: bad"},
		{Error{Path: "title", Msg: "bad"}, "title: bad"},
		{Error{Msg: "bad"}, "bad"},
		// A message that starts with its path does not repeat it.
		{Error{File: "m.yaml", Line: 4, Column: 3, Path: "listen.www", Msg: "listen.www cannot change"}, "m.yaml:4:3: listen.www cannot change"},
		{Error{Path: "listen", Msg: "listen.www x"}, "listen: listen.www x"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestErrorsSortedAndProto(t *testing.T) {
	errs := Errors{
		{File: "m.yaml", Line: 9, Column: 1, Path: "b", Msg: "third"},
		{File: "m.yaml", Line: 2, Column: 7, Path: "a", Msg: "second"},
		{File: "m.yaml", Line: 2, Column: 3, Path: "z", Msg: "first"},
		{File: "m.yaml", Line: 9, Column: 1, Path: "c", Msg: "fourth"},
	}
	want := "m.yaml:2:3: z: first\nm.yaml:2:7: a: second\nm.yaml:9:1: b: third\nm.yaml:9:1: c: fourth"
	if got := errs.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if errs[0].Msg != "third" {
		t.Error("Error() reordered its receiver")
	}
	var first *Error
	if !errors.As(error(errs), &first) || first != errs[0] {
		t.Error("errors.As does not find an *Error in Errors")
	}
	pb := errs.Proto()
	if len(pb) != 4 || !proto.Equal(pb[0], &messages.ConfigError{File: "m.yaml", Line: 2, Column: 3, Path: "z", Message: "first"}) ||
		pb[3].GetMessage() != "fourth" {
		t.Errorf("Proto() = %v", pb)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	_, err := LoadFile(missing)
	var e *Error
	if !errors.As(err, &e) || e.File != missing || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFile(missing) = %#v, want an *Error for the file wrapping fs.ErrNotExist", err)
	}
	if got := err.Error(); got != missing+": cannot read config file: no such file or directory" {
		t.Errorf("Error() = %q", got)
	}

	path := filepath.Join(dir, "master.yaml")
	if err := os.WriteFile(path, []byte("workers: [{name: w}]\nbuilders: [{name: b}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFile(path)
	if err == nil || err.Error() != path+`:2:12: builders[0].workers: builder "b" has no workers` {
		t.Errorf("LoadFile = %v", err)
	}

	if err := os.WriteFile(path, []byte("title: ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(path)
	if err != nil || cfg.GetTitle() != "ok" || cfg.GetListen().GetWww() != DefaultWWWAddr {
		t.Errorf("LoadFile = %v, %v", cfg, err)
	}
}

// Every error Load returns names the file and has a message; Proto keeps them.
func TestLoadErrorsNameTheFile(t *testing.T) {
	_, err := Load("x.yaml", []byte("titel: a\nworkers: [{name: ' '}]\n"))
	errs, ok := err.(Errors)
	if !ok || len(errs) != 2 {
		t.Fatalf("Load = %v", err)
	}
	for _, e := range errs.Proto() {
		if e.GetFile() != "x.yaml" || e.GetLine() == 0 || e.GetMessage() == "" || e.GetPath() == "" {
			t.Errorf("error %v lacks its place", e)
		}
	}
}
