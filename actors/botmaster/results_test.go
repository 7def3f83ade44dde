package botmaster

import (
	"testing"

	"github.com/buildmaster/buildmaster/internal/report"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

func TestCommandResults(t *testing.T) {
	warnOn1 := map[int32]messages.StepResult{0: messages.StepResult_STEP_RESULT_SUCCESS, 1: messages.StepResult_STEP_RESULT_WARNINGS,
		-1: messages.StepResult_STEP_RESULT_SKIPPED}
	for _, c := range []struct {
		c        *messages.CommandComplete
		decodeRC map[int32]messages.StepResult
		want     int32
	}{
		{&messages.CommandComplete{Rc: 0}, nil, state.ResultSuccess},
		{&messages.CommandComplete{Rc: 3}, nil, state.ResultFailure},
		{&messages.CommandComplete{Rc: -1}, nil, state.ResultFailure},
		{&messages.CommandComplete{Rc: -1, Error: "workdir missing"}, nil, state.ResultException},
		{&messages.CommandComplete{Rc: -1, Interrupted: true}, nil, state.ResultCancelled},
		{&messages.CommandComplete{Rc: -1, LostConnection: true, Error: "lost"}, nil, state.ResultRetry},
		// decode_rc: listed codes map to their result, others are FAILURE.
		{&messages.CommandComplete{Rc: 0}, warnOn1, state.ResultSuccess},
		{&messages.CommandComplete{Rc: 1}, warnOn1, state.ResultWarnings},
		{&messages.CommandComplete{Rc: 2}, warnOn1, state.ResultFailure},
		{&messages.CommandComplete{Rc: -1}, warnOn1, state.ResultSkipped},
		{&messages.CommandComplete{Rc: 0}, map[int32]messages.StepResult{1: messages.StepResult_STEP_RESULT_SUCCESS}, state.ResultFailure},
		{&messages.CommandComplete{Rc: 7}, map[int32]messages.StepResult{7: messages.StepResult_STEP_RESULT_CANCELLED}, state.ResultCancelled},
		// Interrupted or lost, the exit code does not count.
		{&messages.CommandComplete{Rc: 1, Interrupted: true}, warnOn1, state.ResultCancelled},
		{&messages.CommandComplete{Rc: 1, LostConnection: true}, warnOn1, state.ResultRetry},
	} {
		if got := commandResults(c.c, c.decodeRC); got != c.want {
			t.Errorf("%v with %v: %d, want %d", c.c, c.decodeRC, got, c.want)
		}
	}
}

// Every result a config can name maps to Buildbot's code for it.
func TestResultCode(t *testing.T) {
	want := map[string]int32{"SUCCESS": state.ResultSuccess, "WARNINGS": state.ResultWarnings, "FAILURE": state.ResultFailure,
		"SKIPPED": state.ResultSkipped, "EXCEPTION": state.ResultException, "RETRY": state.ResultRetry, "CANCELLED": state.ResultCancelled}
	values := messages.StepResult(0).Descriptor().Values()
	for i := range values.Len() {
		v := values.Get(i)
		code, ok := resultCode(messages.StepResult(v.Number()))
		name := string(v.Name())[len("STEP_RESULT_"):]
		if w, known := want[name]; ok != known || code != w {
			t.Errorf("%s: %d, %v; want %d, %v", v.Name(), code, ok, w, known)
		}
	}
	if _, ok := resultCode(messages.StepResult(42)); ok {
		t.Error("an unknown result has a code")
	}
}

// TestMerge is Buildbot's computeResultAndTermination, case by case. The
// cases marked "3.7" were run on Buildbot 3.7 (a ShellCommand exiting 1).
func TestMerge(t *testing.T) {
	no := new(false)
	for _, c := range []struct {
		name          string
		build, step   int32
		cfg           *messages.StepConfig
		want          int32
		wantTerminate bool
	}{
		{"success", state.ResultSuccess, state.ResultSuccess, &messages.StepConfig{}, state.ResultSuccess, false},
		{"failure flunks by default", state.ResultSuccess, state.ResultFailure, &messages.StepConfig{}, state.ResultFailure, false},
		{"failure flunks when told", state.ResultSuccess, state.ResultFailure, &messages.StepConfig{FlunkOnFailure: new(true)}, state.ResultFailure, false},
		{"failure halts", state.ResultSuccess, state.ResultFailure, &messages.StepConfig{HaltOnFailure: true}, state.ResultFailure, true},
		{"3.7: halt without flunk is success", state.ResultSuccess, state.ResultFailure,
			&messages.StepConfig{HaltOnFailure: true, FlunkOnFailure: no}, state.ResultSuccess, true},
		{"failure without flunk keeps warnings", state.ResultWarnings, state.ResultFailure, &messages.StepConfig{FlunkOnFailure: no},
			state.ResultWarnings, false},
		{"3.7: warn on failure without flunk", state.ResultSuccess, state.ResultFailure,
			&messages.StepConfig{WarnOnFailure: true, FlunkOnFailure: no}, state.ResultWarnings, false},
		{"3.7: warn on failure alone still flunks", state.ResultSuccess, state.ResultFailure, &messages.StepConfig{WarnOnFailure: true},
			state.ResultFailure, false},
		{"3.7: warnings count as success by default", state.ResultSuccess, state.ResultWarnings, &messages.StepConfig{}, state.ResultSuccess, false},
		{"3.7: warn on warnings", state.ResultSuccess, state.ResultWarnings, &messages.StepConfig{WarnOnWarnings: true}, state.ResultWarnings, false},
		{"3.7: flunk on warnings", state.ResultSuccess, state.ResultWarnings, &messages.StepConfig{FlunkOnWarnings: true}, state.ResultFailure, false},
		{"flunk on warnings wins over warn", state.ResultSuccess, state.ResultWarnings,
			&messages.StepConfig{FlunkOnWarnings: true, WarnOnWarnings: true}, state.ResultFailure, false},
		{"warnings never halt", state.ResultSuccess, state.ResultWarnings, &messages.StepConfig{HaltOnFailure: true, FlunkOnWarnings: true},
			state.ResultFailure, false},
		{"an earlier failure stays", state.ResultFailure, state.ResultWarnings, &messages.StepConfig{WarnOnWarnings: true}, state.ResultFailure, false},
		{"exception stops", state.ResultWarnings, state.ResultException, &messages.StepConfig{}, state.ResultException, true},
		{"exception stops without flunk", state.ResultSuccess, state.ResultException, &messages.StepConfig{FlunkOnFailure: no},
			state.ResultException, true},
		{"retry stops", state.ResultSuccess, state.ResultRetry, &messages.StepConfig{}, state.ResultRetry, true},
		{"cancelled is worst", state.ResultFailure, state.ResultCancelled, &messages.StepConfig{}, state.ResultCancelled, true},
		{"skipped counts least", state.ResultSuccess, state.ResultSkipped, &messages.StepConfig{}, state.ResultSuccess, false},
		{"skipped after skipped", state.ResultSkipped, state.ResultSkipped, &messages.StepConfig{}, state.ResultSkipped, false},
	} {
		got, term := merge(c.build, false, c.step, c.cfg)
		if got != c.want || term != c.wantTerminate {
			t.Errorf("%s: %s, %v; want %s, %v", c.name, report.Result(got), term, report.Result(c.want), c.wantTerminate)
		}
	}
	// A build already stopping stays so.
	if _, term := merge(state.ResultFailure, true, state.ResultSuccess, &messages.StepConfig{}); !term {
		t.Error("a success un-halted the build")
	}
}
