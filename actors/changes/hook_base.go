package changes

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/buildmaster/buildmaster/messages"
)

// The base change hook: Buildbot's fields, as a form or as JSON.

// parseBase reads Buildbot's base hook fields: from a JSON object when the
// body is application/json, else from the form (body and query).
func parseBase(r *http.Request, body []byte) ([]*messages.Change, *hookError) {
	fields, herr := baseFields(r, body)
	if herr != nil {
		return nil, herr
	}
	c := &messages.Change{}
	for _, step := range []func(baseFieldSet, *messages.Change) *hookError{baseText, baseWhen, baseFiles, baseProperties} {
		if herr := step(fields, c); herr != nil {
			return nil, herr
		}
	}
	return []*messages.Change{c}, nil
}

// baseFieldSet is the fields of a base hook request, by name: a string, or
// (from JSON) any JSON value.
type baseFieldSet map[string]any

// baseFields reads the fields of a base hook request.
func baseFields(r *http.Request, body []byte) (baseFieldSet, *hookError) {
	fields := baseFieldSet{}
	if isJSON(r) {
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, refuse(http.StatusBadRequest, "the body is not a JSON object: %v", err)
		}
		return fields, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "the body is not a form: %v", err)
	}
	for k, v := range r.URL.Query() {
		if _, ok := form[k]; !ok {
			form[k] = v
		}
	}
	for k, v := range form {
		if len(v) > 0 {
			fields[k] = v[0]
		}
	}
	return fields, nil
}

// str returns field k as text: "" when absent, a number as written.
func (f baseFieldSet) str(k string) (string, *hookError) {
	switch v := f[k].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", refuse(http.StatusBadRequest, "%s must be a string", k)
}

// baseText sets the change's text fields; who stands for a missing author.
func baseText(fields baseFieldSet, c *messages.Change) *hookError {
	for _, f := range []struct {
		key string
		to  *string
	}{
		{"author", &c.Author}, {"committer", &c.Committer}, {"comments", &c.Comments}, {"revision", &c.Revision},
		{"branch", &c.Branch}, {"repository", &c.Repository}, {"project", &c.Project}, {"category", &c.Category},
		{"revlink", &c.Revlink}, {"codebase", &c.Codebase},
	} {
		v, err := fields.str(f.key)
		if err != nil {
			return err
		}
		*f.to = v
	}
	if c.Author == "" {
		v, err := fields.str("who")
		if err != nil {
			return err
		}
		c.Author = v
	}
	return nil
}

// baseWhen sets the change's time from when_timestamp, or else when.
func baseWhen(fields baseFieldSet, c *messages.Change) *hookError {
	for _, k := range []string{"when_timestamp", "when"} {
		if fields[k] == nil {
			continue
		}
		when, err := timestamp(fields[k])
		if err != nil {
			return refuse(http.StatusBadRequest, "%s: %v", k, err)
		}
		c.WhenTimestamp = when
		return nil
	}
	return nil
}

// baseFiles sets the change's files from files: a JSON list of strings, or
// a string holding one.
func baseFiles(fields baseFieldSet, c *messages.Change) *hookError {
	v := fields["files"]
	if v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return refuse(http.StatusBadRequest, "files is not a JSON list of strings: %v", err)
		}
	}
	list, ok := v.([]any)
	if !ok {
		return refuse(http.StatusBadRequest, "files is not a JSON list of strings")
	}
	for _, f := range list {
		s, ok := f.(string)
		if !ok {
			return refuse(http.StatusBadRequest, "files is not a JSON list of strings")
		}
		c.Files = append(c.Files, s)
	}
	return nil
}

// baseProperties sets the change's properties from properties: a JSON
// object, or a string holding one.
func baseProperties(fields baseFieldSet, c *messages.Change) *hookError {
	v := fields["properties"]
	if v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return refuse(http.StatusBadRequest, "properties is not a JSON object: %v", err)
		}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return refuse(http.StatusBadRequest, "properties is not a JSON object")
	}
	props, err := properties(obj)
	if err != nil {
		return refuse(http.StatusBadRequest, "properties: %v", err)
	}
	c.Properties = props
	return nil
}

// timestamp reads epoch seconds (a number, or a string of one) or an
// RFC 3339 time.
func timestamp(v any) (int64, error) {
	switch t := v.(type) {
	case float64:
		if t <= 0 || t > math.MaxInt32*100 {
			return 0, fmt.Errorf("%v is not epoch seconds", t)
		}
		return int64(t), nil
	case string:
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return timestamp(f)
		}
		tm, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return 0, fmt.Errorf("%q is neither epoch seconds nor an RFC 3339 time", t)
		}
		return tm.Unix(), nil
	}
	return 0, errors.New("not a time")
}

// properties turns a JSON object into change properties, sorted by name.
func properties(obj map[string]any) ([]*messages.Property, error) {
	var out []*messages.Property
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v, err := json.Marshal(obj[k])
		if err != nil {
			return nil, err
		}
		out = append(out, &messages.Property{Name: k, ValueJson: string(v), Source: "Change"})
	}
	return out, nil
}

func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}
