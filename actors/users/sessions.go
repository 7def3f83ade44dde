package users

import (
	"context"
	"slices"
	"time"

	"github.com/buildmaster/buildmaster/actors/db"
	"github.com/buildmaster/buildmaster/actors/service"
	"github.com/buildmaster/buildmaster/internal/auth"
	"github.com/buildmaster/buildmaster/internal/state"
	"github.com/buildmaster/buildmaster/messages"
)

// sessionStore is auth.SessionStore over the state's web_sessions table:
// a login and a logout are state commands (durable when answered, as
// every write), so sessions outlive a restart of the master, and so do
// their ends. Lookups read the state without a message.
type sessionStore struct{ rt *service.Runtime }

func (s sessionStore) Put(ctx context.Context, sum string, sess auth.Session) error {
	started := sess.Started.Unix()
	ws := &messages.WebSession{Sha256: sum, Username: sess.Who.Username, Email: sess.Who.Email, Groups: sess.Who.Groups,
		StartedAt: started, ExpiresAt: max(sess.Expires.Unix(), started+1)}
	return s.call(ctx, &messages.Command{Kind: &messages.Command_StartSession{StartSession: &messages.StartSession{Session: ws}}})
}

func (s sessionStore) Get(sum string) (auth.Session, bool) {
	ws := state.WebSessionBySHA256(s.rt.DB.Read(), sum)
	if ws == nil {
		return auth.Session{}, false
	}
	return auth.Session{Who: auth.Identity{Username: ws.Username, Email: ws.Email, Groups: slices.Clone(ws.Groups)},
		Started: time.Unix(ws.StartedAt, 0), Expires: time.Unix(ws.ExpiresAt, 0)}, true
}

func (s sessionStore) Delete(ctx context.Context, sum string) error {
	return s.call(ctx, &messages.Command{Kind: &messages.Command_EndSession{EndSession: &messages.EndSession{Sha256: sum}}})
}

func (s sessionStore) call(ctx context.Context, cmd *messages.Command) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := db.Call(ctx, s.rt.System, cmd)
	return err
}
