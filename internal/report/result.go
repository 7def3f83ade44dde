package report

import "fmt"

// Result is Buildbot's result code (buildbot.process.results), the same
// numbers internal/state stores.
type Result int32

// Buildbot's result codes.
const (
	Success   Result = 0
	Warnings  Result = 1
	Failure   Result = 2
	Skipped   Result = 3
	Exception Result = 4
	Retry     Result = 5
	Cancelled Result = 6
)

var resultNames = [...]string{"success", "warnings", "failure", "skipped", "exception", "retry", "cancelled"}

// String is Buildbot's name of the result ("success", "failure" …), or
// "result N" for a code Buildbot does not know.
func (r Result) String() string {
	if r >= 0 && int(r) < len(resultNames) {
		return resultNames[r]
	}
	return fmt.Sprintf("result %d", int32(r))
}
