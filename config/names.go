package config

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Name limits. Every named thing (worker, builder, scheduler, change source)
// becomes an actor and a path segment on the debug endpoint and in the data
// API, so a name may hold no "/", ":", whitespace or control character.
const (
	maxNameLen       = 100
	maxWorkerNameLen = 50 // Buildbot's limit
	// maxStepNameBytes is Buildbot's limit on a step's name (steps.name),
	// which the state enforces too.
	maxStepNameBytes = 50
)

// workerName is Buildbot's rule for worker names (plus "." after the first
// character), which keeps them usable as login names and in URLs.
var workerName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_-][A-Za-z0-9_.-]*$`) })

// reservedWorkerNames are taken by Buildbot's own pbmanager registrations.
var reservedWorkerNames = map[string]bool{"debug": true, "change": true, "status": true}

// nameProblem says what is wrong with a name of any kind, or "".
func nameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case utf8.RuneCountInString(name) > maxNameLen:
		return fmt.Sprintf("is longer than %d characters", maxNameLen)
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "contains a control character"
	case strings.IndexFunc(name, unicode.IsSpace) >= 0:
		return "contains whitespace"
	case strings.Contains(name, "/"):
		return `contains "/"`
	case strings.Contains(name, ":"):
		return `contains ":"`
	}
	return ""
}

// workerNameProblem adds Buildbot's worker-name rules to nameProblem.
func workerNameProblem(name string) string {
	switch p := nameProblem(name); {
	case p != "":
		return p
	case len(name) > maxWorkerNameLen:
		return fmt.Sprintf("is longer than %d characters", maxWorkerNameLen)
	case reservedWorkerNames[name]:
		return "is reserved (debug, change and status are)"
	case !workerName().MatchString(name):
		return `must start with a letter, "_" or "-" and hold only letters, digits, "_", "." and "-"`
	}
	return ""
}

// builderNameProblem adds Buildbot's builder-name rule to nameProblem.
func builderNameProblem(name string) string {
	if p := nameProblem(name); p != "" {
		return p
	}
	if strings.HasPrefix(name, "_") {
		return `must not start with "_"`
	}
	return ""
}

// quoteName quotes a name for a message, shortened when it is long.
func quoteName(name string) string {
	if utf8.RuneCountInString(name) > 40 {
		return fmt.Sprintf("%.40q…", name)
	}
	return fmt.Sprintf("%q", name)
}

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
