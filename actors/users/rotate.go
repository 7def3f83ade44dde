package users

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/messages"
)

// rotatedPasswords names the users of www.auth.users in both old and new
// whose password differs (changed in the config, or its secret rotated in
// its provider): their sessions are to end.
func rotatedPasswords(old, new *messages.MasterConfig) []string {
	was := map[string]string{}
	for _, u := range old.GetWww().GetAuth().GetUsers() {
		was[u.GetUsername()] = u.GetPassword()
	}
	var out []string
	for _, u := range new.GetWww().GetAuth().GetUsers() {
		if pw, ok := was[u.GetUsername()]; ok && pw != u.GetPassword() {
			out = append(out, u.GetUsername())
		}
	}
	return out
}

// applyConfig takes a new generation: when it rotates web users'
// passwords, their sessions end first (one EndSession each), and only then
// does the service apply it and acknowledge, so that once a reconfig has
// answered, a cookie of the old password proves nothing. Buildbot keeps
// such sessions.
func (m *manager) applyConfig(ctx actor.Context, cfg *messages.MasterConfig) {
	users := rotatedPasswords(m.Config, cfg)
	var next func(i int)
	next = func(i int) {
		if i == len(users) {
			m.Base.Receive(ctx) // ctx's message is still the ApplyConfig (ReenterAfter keeps it)
			return
		}
		db.Submit(ctx, messages.NewCommand(&messages.EndSession{Username: users[i]}), func(_ *messages.CommandResult, err error) {
			if err != nil {
				m.RT.Log.Error("user_manager: ending the sessions of a user whose password changed", slog.String("user", users[i]), slog.Any("error", err))
			} else {
				m.RT.Log.Info("user_manager: password changed: sessions ended", slog.String("user", users[i]))
			}
			next(i + 1)
		})
	}
	next(0)
}
