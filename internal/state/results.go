package state

import (
	"fmt"

	"github.com/hashicorp/go-memdb"
)

// Buildbot's result codes (buildbot.process.results).
const (
	ResultSuccess   = 0
	ResultWarnings  = 1
	ResultFailure   = 2
	ResultSkipped   = 3
	ResultException = 4
	ResultRetry     = 5
	ResultCancelled = 6
)

// Worst returns the worse of two results, as Buildbot's worst_status:
// CANCELLED, then RETRY, EXCEPTION, FAILURE, WARNINGS, SUCCESS, and SKIPPED
// the least bad.
func Worst(a, b int32) int32 {
	for _, r := range []int32{ResultCancelled, ResultRetry, ResultException, ResultFailure, ResultWarnings, ResultSuccess, ResultSkipped} {
		if a == r || b == r {
			return r
		}
	}
	return max(a, b) // unknown codes: not reached for valid results
}

// checkResults refuses a results code that is not one of Buildbot's.
func checkResults(kind string, r int32) error {
	if r < ResultSuccess || r > ResultCancelled {
		return bad(kind, "results %d is not a result code (0 SUCCESS … 6 CANCELLED)", r)
	}
	return nil
}

// finishable is a row that ends with results: a step or a build.
type finishable interface {
	comparable
	HasResults() bool
}

// unfinished checks a finish command (results, completion time, state
// string) and returns the row it finishes, which must exist unfinished.
func unfinished[T finishable](txn *memdb.Txn, kind, what, table string, id uint64, results int32, at int64, stateString string) (T, error) {
	var zero T
	if err := checkResults(kind, results); err != nil {
		return zero, err
	}
	if err := checkStr(kind, "state_string", stateString, MaxFieldBytes); err != nil {
		return zero, err
	}
	if at <= 0 {
		return zero, bad(kind, "complete_at is required (epoch seconds, > 0)")
	}
	row, err := get[T](txn, table, IndexID, id)
	switch {
	case err != nil:
		return zero, err
	case row == zero:
		return zero, bad(kind, "%s %d does not exist", what, id)
	case row.HasResults():
		return zero, bad(kind, "%s %d is already finished", what, id)
	}
	return row, nil
}

// resultNames are Buildbot's names of the result codes (Results).
var resultNames = [...]string{"success", "warnings", "failure", "skipped", "exception", "retry", "cancelled"}

// ResultName is Buildbot's name of a result code ("failure"); "result N"
// for an unknown one.
func ResultName(r int32) string {
	if r >= 0 && int(r) < len(resultNames) {
		return resultNames[r]
	}
	return fmt.Sprintf("result %d", r)
}
