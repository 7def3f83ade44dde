package botmaster

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-memdb"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// properties are a build's properties: name → (JSON value, source).
type properties map[string]*messages.Property

func (p properties) set(name, valueJSON, source string) {
	p[name] = &messages.Property{Name: name, ValueJson: valueJSON, Source: source}
}

func (p properties) get(name string) *messages.Property { return p[name] }

// str renders a property for text: a JSON string as itself, anything else
// as its JSON; "" when unset.
func (p properties) str(name string) string {
	prop := p[name]
	if prop == nil {
		return ""
	}
	var s string
	if json.Unmarshal([]byte(prop.GetValueJson()), &s) == nil {
		return s
	}
	return prop.GetValueJson()
}

// list returns the properties sorted by name.
func (p properties) list() []*messages.Property {
	out := make([]*messages.Property, 0, len(p))
	for _, v := range p {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *messages.Property) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// interpolation is Buildbot's Interpolate for properties:
// %(prop:NAME)s, %(prop:NAME:-DEFAULT)s (DEFAULT when unset or empty),
// %(prop:NAME:~DEFAULT)s (DEFAULT when unset or false-ish: empty),
// %(prop:NAME:+REPLACEMENT)s (REPLACEMENT when set, else nothing).
var interpolation = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`%\(prop:([^:)]+)(?::([-~+])([^)]*))?\)s`) })

// interpolate renders s with the build's properties.
func (p properties) interpolate(s string) string {
	return interpolation().ReplaceAllStringFunc(s, func(m string) string {
		g := interpolation().FindStringSubmatch(m)
		name, op, arg := g[1], g[2], g[3]
		v, set := p.str(name), p[name] != nil
		switch op {
		case "-", "~":
			if !set || v == "" || v == "null" || v == "false" && op == "~" {
				return arg
			}
		case "+":
			if set {
				return arg
			}
			return ""
		}
		return v
	})
}

// initialProperties gathers a build's properties as Buildbot does
// (Build.setupPropertiesKnownBeforeBuildStarts), later sources overriding
// earlier ones: the master's (source Global), its changes' (the changes of
// its sourcestamps, source Change), its buildset's, its builder's (and
// buildername), its worker's (and workername), then the build's own (with
// one sourcestamp: branch, revision, repository, codebase, project; AddBuild
// adds buildnumber).
func (r *runner) initialProperties(txn *memdb.Txn, req *messages.BuildRequest) properties {
	return buildProperties(txn, r.rt.Config(), r.cfg, r.start.GetWorker(), req)
}

// buildProperties is initialProperties for a build of builder on worker,
// under the master config master, for request req.
func buildProperties(txn *memdb.Txn, master *messages.MasterConfig, builder *messages.BuilderConfig, worker string,
	req *messages.BuildRequest) properties {
	p := properties{}
	for k, v := range master.GetProperties() {
		p.set(k, jsonString(v), "Global")
	}
	bs, _ := state.Lookup(txn, state.TableBuildsets, req.GetBuildsetid()).(*messages.Buildset)
	for prop := range state.ChangeProperties(txn, bs.GetSourcestampIds()) {
		p.set(prop.GetName(), prop.GetValueJson(), "Change")
	}
	for _, prop := range bs.GetProperties() {
		p[prop.GetName()] = prop
	}
	for k, v := range builder.GetProperties() {
		p.set(k, jsonString(v), "Builder")
	}
	p.set("buildername", jsonString(builder.GetName()), "Builder")
	for _, w := range master.GetWorkers() {
		if w.GetName() == worker {
			for k, v := range w.GetProperties() {
				p.set(k, jsonString(v), "Worker")
			}
		}
	}
	p.set("workername", jsonString(worker), "Worker")
	if ids := bs.GetSourcestampIds(); len(ids) == 1 {
		if ss, _ := state.Lookup(txn, state.TableSourceStamps, ids[0]).(*messages.SourceStamp); ss != nil {
			for _, f := range []struct{ name, v string }{{"branch", ss.GetBranch()}, {"revision", ss.GetRevision()},
				{"repository", ss.GetRepository()}, {"codebase", ss.GetCodebase()}, {"project", ss.GetProject()}} {
				p.set(f.name, jsonString(f.v), "Build")
			}
		}
	}
	return p
}
