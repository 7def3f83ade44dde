package master

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/paths"
	"github.com/buildmaster/buildmaster/messages"
)

// stopRequest carries out a StopMasterRequest (`buildmaster stop`, SIGUSR1).
// STOP_MODE_NOW asks the process to stop the master (Runtime.Exit), as
// SIGTERM does. A clean shutdown, its cancellation or SIGUSR1's toggle is
// botmaster's (Buildbot's botmaster.cleanShutdown): the request goes there,
// and botmaster answers the sender.
func (m *master) stopRequest(ctx actor.Context, req *messages.StopMasterRequest) {
	switch req.GetMode() {
	case messages.StopMode_STOP_MODE_NOW:
		m.rt.Log.Info("stop requested: stopping the master", slog.String("from", service.From(ctx)))
		if m.rt.Exit != nil {
			m.rt.Exit("buildmaster stop")
		}
		service.Respond(ctx, &messages.StopMasterResponse{Stopping: true})
	case messages.StopMode_STOP_MODE_CLEAN, messages.StopMode_STOP_MODE_CANCEL, messages.StopMode_STOP_MODE_TOGGLE:
		ctx.RequestWithCustomSender(actor.NewPID(ctx.Self().Address, paths.Botmaster), req, ctx.Sender())
	default:
		service.Respond(ctx, &messages.ControlError{Code: messages.ControlErrorCode_CONTROL_ERROR_CODE_INVALID_ARGUMENT,
			Message: "stop: mode must be now, clean, cancel or toggle"})
	}
}
