package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/buildmaster/buildmaster/internal/ask"
	"github.com/buildmaster/buildmaster/messages"
)

// Login timing: how long to wait for the master's TCP port, then for its
// answer to WorkerLogin; and the keepalive interval used when the master
// gives none.
const (
	dialTimeout      = 5 * time.Second
	loginTimeout     = 30 * time.Second
	defaultKeepalive = time.Minute
)

// refusedError is the master's answer to a login it refused.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return "the master refused the login: " + e.msg }

// login logs in, retrying with back-off, until it succeeds or ctx ends.
// *failures counts the consecutive failed attempts: when it is not 0 the
// first attempt waits too. A refused login is logged at error level and
// an unreachable master at warning level, each once per distinct error.
func (w *worker) login(ctx context.Context, failures *int) (*link, error) {
	last := ""
	for {
		if *failures > 0 {
			d := w.o.Backoff(*failures)
			w.log.Debug("next login attempt", "in", d, "failures", *failures)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		w.drainLost()
		lk, err := w.attempt(ctx)
		if err == nil {
			return lk, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		*failures++
		msg := err.Error()
		var refused *refusedError
		switch {
		case msg == last:
			w.log.Debug("login failed again", "error", msg, "failures", *failures)
		case errors.As(err, &refused):
			w.log.Error("the master refused the login; retrying with back-off", "master", w.o.Master,
				"name", w.o.Name, "error", refused.msg)
		default:
			w.log.Warn("cannot log in to the master; retrying with back-off", "master", w.o.Master, "error", msg)
		}
		last = msg
	}
}

// attempt makes one login attempt.
func (w *worker) attempt(ctx context.Context) (*link, error) {
	// A master that is not listening is found at once, rather than after
	// protoactor's own connection retries.
	conn, err := (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, "tcp", w.o.Master)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the master: %w", err)
	}
	conn.Close()

	req := &messages.WorkerLogin{
		Name:            w.o.Name,
		Password:        w.o.Password,
		Info:            workerInfo(w.o.Basedir),
		ProtocolVersion: messages.ProtocolVersion_PROTOCOL_VERSION_1,
	}
	// Not ask.Ask: the wait also takes a loss report from w.lost, which
	// must not be consumed once the answer is in (the session watches it).
	type answer struct {
		res any
		err error
	}
	w.system.Root.Send(w.agent, &loggingIn{})
	f := w.system.Root.RequestFuture(w.pbmanager, req, loginTimeout)
	done := make(chan answer, 1)
	go func() {
		res, err := f.Result()
		done <- answer{res, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-w.lost:
		return nil, errors.New("lost the connection to the master during the login")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	resp, err := ask.Reply[*messages.WorkerLoginResponse](a.res, a.err)
	switch {
	case errors.Is(err, actor.ErrTimeout):
		return nil, fmt.Errorf("no answer to the login within %s (can the master connect back to %s? see --listen; "+
			"and --master must be the address the master advertises)", loginTimeout, w.addr)
	case err != nil:
		return nil, fmt.Errorf("login: %w", err)
	case !resp.GetOk():
		return nil, &refusedError{msg: resp.GetError()}
	case resp.GetSession() == "":
		return nil, errors.New("the master accepted the login without a session")
	}
	ka := resp.GetKeepaliveInterval().AsDuration()
	if ka <= 0 {
		w.log.Warn("the master gave no keepalive interval", "using", defaultKeepalive)
		ka = defaultKeepalive
	}
	return &link{session: resp.GetSession(), keepalive: ka, master: w.pbmanager, root: w.system.Root}, nil
}

// drainLost forgets loss reports about earlier connections.
func (w *worker) drainLost() {
	for {
		select {
		case <-w.lost:
		default:
			return
		}
	}
}
