package botmaster

import (
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// commandResults maps how a command ended to a step's results, as
// Buildbot's RemoteCommand.results: a lost connection is RETRY, an
// interrupted command CANCELLED, a command that could not run (an error
// without an exit code) EXCEPTION; otherwise its exit code is looked up in
// decodeRC (empty: {0: success}), and a code not there is FAILURE.
func commandResults(c *messages.CommandComplete, decodeRC map[int32]messages.StepResult) int32 {
	switch {
	case c.GetLostConnection():
		return state.ResultRetry
	case c.GetInterrupted():
		return state.ResultCancelled
	case c.GetError() != "" && c.GetRc() == -1:
		return state.ResultException
	}
	if len(decodeRC) == 0 {
		decodeRC = defaultDecodeRC
	}
	if r, ok := decodeRC[c.GetRc()]; ok {
		if code, ok := resultCode(r); ok {
			return code
		}
	}
	return state.ResultFailure
}

// defaultDecodeRC is Buildbot's decodeRC default.
var defaultDecodeRC = map[int32]messages.StepResult{0: messages.StepResult_STEP_RESULT_SUCCESS}

// resultCode is the result code of a config's result name (success is 0 …).
func resultCode(r messages.StepResult) (int32, bool) {
	if r <= messages.StepResult_STEP_RESULT_UNSPECIFIED || r > messages.StepResult_STEP_RESULT_CANCELLED {
		return 0, false
	}
	return int32(r - messages.StepResult_STEP_RESULT_SUCCESS), true
}

// merge adds a step's results to the build's, as Buildbot's
// computeResultAndTermination, and says whether the build is to stop (only
// always_run steps still run):
//   - FAILURE counts as FAILURE with flunk_on_failure (unset: true), else as
//     WARNINGS with warn_on_failure, else as SUCCESS; it stops the build with
//     halt_on_failure;
//   - WARNINGS counts as FAILURE with flunk_on_warnings, else as WARNINGS
//     with warn_on_warnings, else as SUCCESS;
//   - EXCEPTION, RETRY and CANCELLED count as themselves and stop the build;
//
// the build's results are then the worst of its own and the step's count.
func merge(build int32, terminate bool, step int32, cfg *messages.StepConfig) (int32, bool) {
	counts := step
	switch step {
	case state.ResultFailure:
		switch {
		case cfg.FlunkOnFailure == nil || cfg.GetFlunkOnFailure():
			counts = state.ResultFailure
		case cfg.GetWarnOnFailure():
			counts = state.ResultWarnings
		default:
			counts = state.ResultSuccess
		}
		terminate = terminate || cfg.GetHaltOnFailure()
	case state.ResultWarnings:
		switch {
		case cfg.GetFlunkOnWarnings():
			counts = state.ResultFailure
		case cfg.GetWarnOnWarnings():
			counts = state.ResultWarnings
		default:
			counts = state.ResultSuccess
		}
	case state.ResultException, state.ResultRetry, state.ResultCancelled:
		terminate = true
	}
	return state.Worst(build, counts), terminate
}
