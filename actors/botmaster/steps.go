package botmaster

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// step runs one step: it adds it (with its stdio log), runs it, and returns
// its results; its finish is left in r.finishing, to be written with what
// comes next. An error means the state could not be written.
func (r *runner) step(cfg *messages.StepConfig) (int32, error) {
	select {
	case reason := <-r.stopped:
		r.stopReason = reason
	default:
	}
	if r.stopReason != "" && !cfg.GetAlwaysRun() {
		if ids := r.started; ids != nil { // AddBuild started it: it ends at once
			r.started = nil
			r.finishing = &messages.FinishStep{Stepid: ids[0], Results: state.ResultCancelled, CompleteAt: time.Now().Unix()}
		}
		return state.ResultCancelled, nil
	}
	r.stepName = cfg.GetName()
	ids, err := r.startStep(newStep(cfg))
	if err != nil {
		return 0, err
	}
	stepid := ids[0]
	log := &stepLog{r: r, id: ids[1]}
	var results int32
	switch k := cfg.GetKind().(type) {
	case *messages.StepConfig_Shell:
		results, err = r.shell(log, k.Shell)
	case *messages.StepConfig_Git:
		results, err = r.git(log, k.Git)
	case *messages.StepConfig_Trigger:
		results, err = r.trigger(log, k.Trigger)
	case *messages.StepConfig_SetProperty:
		value := r.props.interpolate(k.SetProperty.GetValue())
		r.props.set(k.SetProperty.GetProperty(), jsonString(value), "SetPropertyFromCommand")
		if _, err = r.call(&messages.Command{Kind: &messages.Command_SetBuildProperties{SetBuildProperties: &messages.SetBuildProperties{
			Buildid: r.buildid, Properties: []*messages.Property{r.props.get(k.SetProperty.GetProperty())}}}}); err == nil {
			err = log.header(fmt.Sprintf("property %s set to %s", k.SetProperty.GetProperty(), jsonString(value)))
		}
	case *messages.StepConfig_FileUpload, *messages.StepConfig_DirectoryUpload, *messages.StepConfig_FileDownload,
		*messages.StepConfig_StringDownload, *messages.StepConfig_MakeDirectory, *messages.StepConfig_RemoveDirectory:
		results, err = r.transfer(log, cfg)
	default:
		results = state.ResultException
		err = log.header(fmt.Sprintf("%T steps are not supported", k))
	}
	if err != nil {
		return 0, err
	}
	app, err := log.finish()
	if err != nil {
		return 0, err
	}
	r.finishing = &messages.FinishStep{Stepid: stepid, Results: results, CompleteAt: time.Now().Unix(), Append: app}
	return results, nil
}

// newStep is the AddStep that starts a step of cfg, now.
func newStep(cfg *messages.StepConfig) *messages.AddStep {
	return &messages.AddStep{Name: cfg.GetName(), StartedAt: time.Now().Unix(), LogNames: []string{"stdio"}}
}

// startStep starts step in the build, with the finish of the step before
// it (one write), unless AddBuild started it; it returns the step's id,
// then its logs' ids.
func (r *runner) startStep(step *messages.AddStep) ([]uint64, error) {
	if ids := r.started; ids != nil {
		r.started = nil
		return ids, nil
	}
	if r.finishing == nil {
		step.Buildid = r.buildid
		res, err := r.call(&messages.Command{Kind: &messages.Command_AddStep{AddStep: step}})
		if err != nil {
			return nil, err
		}
		return append([]uint64{res.GetId()}, res.GetIds()...), nil
	}
	fin := proto.CloneOf(r.finishing)
	fin.Next = step
	res, err := r.call(&messages.Command{Kind: &messages.Command_FinishStep{FinishStep: fin}})
	if err != nil {
		return nil, err
	}
	r.finishing = nil
	return res.GetIds(), nil
}

// workdir is a step's directory, relative to the builder's builddir on the
// worker: the step's workdir, properties interpolated (default "build", as
// Buildbot's).
func (r *runner) workdir(dir string) string {
	if dir == "" {
		return "build"
	}
	return r.props.interpolate(dir)
}
