package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// sendchangeOptions are Buildbot's `sendchange` flags.
type sendchangeOptions struct {
	clientOptions
	who, repository, branch, revision, revisionFile, project, category string
	comments, logfile, codebase, revlink, when                         string
	properties, files                                                  []string
}

func newSendchange() *cobra.Command {
	o := &sendchangeOptions{}
	cmd := &cobra.Command{
		Use:   "sendchange --who AUTHOR [flags] [FILE ...]",
		Short: "Add a change to a running master (Buildbot's sendchange); prints its id once it is durable",
		Long: "sendchange adds a change, as Buildbot's `buildbot sendchange` does, over the master's control endpoint with the\n" +
			"admin token. It prints \"change N\" only once the change is committed to disk on the master.\n" +
			"Files changed are given with --file or as arguments.",
		RunE: func(cmd *cobra.Command, args []string) error {
			change, err := o.change(cmd.InOrStdin(), args)
			if err != nil {
				return &ExitError{Code: ExitRejected, Err: err}
			}
			c, err := o.dial()
			if err != nil {
				return err
			}
			res, err := request[*messages.SendChangeResponse](c, paths.Changes, &messages.SendChangeRequest{Token: c.token, Change: change}, o.timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "change %d\n", res.GetChangeid())
			return nil
		},
	}
	o.clientOptions.flags(cmd)
	f := cmd.Flags()
	f.StringVarP(&o.who, "who", "W", "", "the author of the change (required)")
	f.StringVarP(&o.repository, "repository", "R", "", "the repository the change is in")
	f.StringVarP(&o.branch, "branch", "b", "", "the branch")
	f.StringVarP(&o.revision, "revision", "r", "", "the revision")
	f.StringVar(&o.revisionFile, "revision_file", "", "read the revision from this file")
	f.StringVarP(&o.project, "project", "P", "", "the project")
	f.StringVarP(&o.category, "category", "C", "", "the category")
	f.StringVarP(&o.comments, "comments", "c", "", "the log message")
	f.StringVarP(&o.logfile, "logfile", "F", "", "read the log message from this file (- for stdin)")
	f.StringVar(&o.codebase, "codebase", "", "the codebase")
	f.StringVarP(&o.revlink, "revlink", "l", "", "a link to the revision")
	f.StringVarP(&o.when, "when", "w", "", "when the change was made, in seconds since the epoch (default: when the master receives it)")
	f.StringArrayVarP(&o.properties, "property", "p", nil, "a property of the change, NAME:VALUE (repeatable)")
	f.StringArrayVar(&o.files, "file", nil, "a file the change touches (repeatable; arguments are files too)")
	return cmd
}

// change builds the change from the flags, refusing what the master would.
func (o *sendchangeOptions) change(stdin io.Reader, args []string) (*messages.Change, error) {
	if o.who == "" {
		return nil, fmt.Errorf("sendchange: --who is required (the author of the change)")
	}
	c := &messages.Change{
		Author: o.who, Repository: o.repository, Branch: o.branch, Revision: o.revision, Project: o.project,
		Category: o.category, Comments: o.comments, Codebase: o.codebase, Revlink: o.revlink,
		Files: append(append([]string{}, o.files...), args...),
	}
	if err := o.readFiles(stdin, c); err != nil {
		return nil, err
	}
	if o.when != "" {
		w, err := strconv.ParseFloat(o.when, 64)
		if err != nil || w <= 0 || w > math.MaxInt32*4 || math.IsNaN(w) {
			return nil, fmt.Errorf("sendchange: --when %q: want seconds since the epoch, e.g. 1700000000", o.when)
		}
		c.WhenTimestamp = int64(w)
	}
	for _, p := range o.properties {
		name, value, ok := strings.Cut(p, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("sendchange: --property %q: want NAME:VALUE", p)
		}
		js, _ := json.Marshal(value)
		c.Properties = append(c.Properties, &messages.Property{Name: name, ValueJson: string(js), Source: "Change"})
	}
	if err := checkUTF8(c); err != nil {
		return nil, err
	}
	if _, err := proto.Marshal(c); err != nil {
		return nil, fmt.Errorf("sendchange: the change cannot be sent: %v", err)
	}
	// Refuse here what the master would refuse, without a round trip (and a
	// change over the control endpoint's body limit would be refused there
	// less clearly).
	check := proto.CloneOf(c)
	if check.WhenTimestamp == 0 {
		check.WhenTimestamp = 1 // the master's clock fills it in
	}
	if err := state.CheckChange(check); err != nil {
		return nil, fmt.Errorf("sendchange: the master would refuse this change: %w", err)
	}
	return c, nil
}

// readFiles reads the revision and the comments from the files the flags
// name, if any ("-" for the comments: stdin).
func (o *sendchangeOptions) readFiles(stdin io.Reader, c *messages.Change) error {
	if o.revisionFile != "" {
		b, err := os.ReadFile(o.revisionFile)
		if err != nil {
			return fmt.Errorf("sendchange: --revision_file: %w", err)
		}
		c.Revision = strings.TrimSpace(string(b))
	}
	if o.logfile != "" {
		var b []byte
		var err error
		if o.logfile == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(o.logfile)
		}
		if err != nil {
			return fmt.Errorf("sendchange: --logfile: %w", err)
		}
		c.Comments = string(b)
	}
	return nil
}

// checkUTF8 refuses text that is not UTF-8: it cannot be encoded, so the
// remote layer would drop the request, and the client would wait out
// --timeout.
func checkUTF8(c *messages.Change) error {
	for _, f := range []struct{ what, v string }{
		{"--who", c.Author}, {"--repository", c.Repository}, {"--branch", c.Branch}, {"the revision (--revision, --revision_file)", c.Revision},
		{"--project", c.Project}, {"--category", c.Category}, {"the comments (--comments, --logfile)", c.Comments},
		{"--codebase", c.Codebase}, {"--revlink", c.Revlink},
	} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("sendchange: %s is not valid UTF-8", f.what)
		}
	}
	for _, f := range c.Files {
		if !utf8.ValidString(f) {
			return fmt.Errorf("sendchange: file %q is not valid UTF-8", f)
		}
	}
	for _, p := range c.Properties {
		if !utf8.ValidString(p.Name) {
			return fmt.Errorf("sendchange: --property %q: the name is not valid UTF-8", p.Name)
		}
	}
	return nil
}
