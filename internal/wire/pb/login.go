package pb

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/buildmaster/buildmaster/internal/droplog"
	"github.com/buildmaster/buildmaster/internal/wire"
)

// login is the "root" object of a connection (Twisted's _PortalWrapper):
// login(username) answers (challenge, challenger); the challenger's
// respond(md5(md5(password) + challenge), mind) logs the worker in. The
// mind is the worker's bot object, on which the master then calls.
// maxNameLength bounds the worker names a login may give.
const maxNameLength = 256

type login struct {
	srv      *Server
	b        *broker
	addr     string
	attempts int
	name     string // set once logged in
	conn     *conn  // set once logged in
}

func (l *login) remote(c *call) (any, error) {
	switch c.method {
	case "login":
		l.attempts++
		if l.attempts > maxLoginAttempts {
			l.b.close(fmt.Errorf("more than %d login attempts", maxLoginAttempts))
			return nil, errAsync
		}
		v, _ := c.arg(0, "username")
		name := text(v)
		if name == "" || len(name) > maxNameLength {
			return nil, unauthorizedLogin("no user name, or a too long one")
		}
		challenge := l.srv.cfg.Challenge()
		ch := &challenger{login: l, name: name, challenge: challenge}
		luid, err := l.b.register(ch)
		if err != nil {
			return nil, err
		}
		ch.luid = luid
		return Tuple{challenge, l.b.export(luid)}, nil
	case "loginAnonymous":
		return nil, unauthorizedLogin("anonymous login is not allowed")
	}
	return nil, noSuchMethod(c.method)
}

// challenger checks one response to one challenge (Twisted's
// _PortalAuthChallenger); it is used once.
type challenger struct {
	login     *login
	luid      int64
	name      string
	challenge []byte
}

func (ch *challenger) remote(c *call) (any, error) {
	if c.method != "respond" {
		return nil, noSuchMethod(c.method)
	}
	l := ch.login
	l.b.forget(ch.luid)
	response, _ := c.arg(0, "response")
	mind, _ := c.arg(1, "mind")
	mindRef, isRef := mind.(RemoteRef)
	if l.conn != nil {
		return nil, unauthorizedLogin("already logged in")
	}
	if err := ch.check(response); err != nil {
		// Twisted's master drops its reference to the mind of a failed
		// login; so do we.
		if isRef {
			l.b.sendDecref(mindRef)
		}
		return nil, err
	}
	if !isRef {
		return nil, fmt.Errorf("respond: the mind is %T, not a remote reference", mind)
	}
	l.name = ch.name
	l.b.untrusted = 0
	_ = l.b.nc.SetReadDeadline(time.Time{})
	l.b.dec.MaxMessage = l.srv.cfg.MaxMessage
	l.b.dec.MaxElements = 0
	l.b.dec.growBuffer(readBuffer)
	wire.LoggedIn(l.b.nc)
	l.conn = newConn(l.srv, l.b, ch.name, l.addr, mindRef)
	l.b.log.Debug("pb: worker logged in", "worker", ch.name) // botmaster logs "worker attached", within a budget
	go l.accept(c.id)
	return nil, errAsync
}

// check compares the response with md5(md5(password) + challenge). The
// error is what the worker gets: an UnauthorizedLogin, which makes it
// retry later; the reason is only logged.
func (ch *challenger) check(response any) error {
	l := ch.login
	ctx, cancel := context.WithTimeout(context.Background(), l.srv.cfg.LoginTimeout)
	defer cancel()
	password, ok, err := l.srv.cfg.Auth.Password(ctx, ch.name, l.addr)
	switch {
	case errors.Is(err, wire.ErrRateLimited):
		var attrs []slog.Attr
		if wait, ok := wire.RetryAfter(err); ok {
			attrs = append(attrs, slog.Duration("retry_after", wait))
		}
		l.refused(ch.name, err.Error(), attrs...)
		return unauthorizedLogin(err.Error())
	case err != nil:
		l.b.log.Warn("pb: login refused", "worker", ch.name, "err", err)
		return unauthorizedLogin("")
	case !ok:
		if o, is := l.srv.cfg.Auth.(wire.LoginObserver); is {
			o.LoginResult(ch.name, l.addr, false)
		}
		l.refused(ch.name, "unknown worker")
		return unauthorizedLogin("")
	}
	got, _ := response.([]byte)
	ok = subtle.ConstantTimeCompare(got, respond(ch.challenge, password)) == 1
	if o, is := l.srv.cfg.Auth.(wire.LoginObserver); is {
		o.LoginResult(ch.name, l.addr, ok)
	}
	if !ok {
		l.refused(ch.name, "wrong password")
		return unauthorizedLogin("")
	}
	return nil
}

// refused logs a refused login of worker name, why, and attrs, within
// Config.Refusals.
func (l *login) refused(name, why string, attrs ...slog.Attr) {
	l.srv.cfg.Refusals.Refused(l.addr, "pb: worker login refused",
		append([]slog.Attr{slog.String("worker", droplog.Text(name)), slog.String("reason", why)}, attrs...)...)
}

// respond is the answer to a challenge: md5(md5(password) + challenge).
func respond(challenge []byte, password string) []byte {
	hashed := md5.Sum([]byte(password))
	h := md5.New()
	h.Write(hashed[:])
	h.Write(challenge)
	return h.Sum(nil)
}

// accept hands the logged-in connection to Config.Accept, then answers
// the respond call (request id) with the worker's perspective, or with
// the refusal.
func (l *login) accept(id int64) {
	c := l.conn
	if err := l.srv.cfg.Accept(c.ctx, c); err != nil {
		l.b.log.Debug("pb: worker refused", "worker", l.name, "err", err) // Accept logs why (pbmanager: within its budget)
		l.b.fail(id, newFailure("builtins.RuntimeError", err.Error()))
		l.b.close(fmt.Errorf("refused: %w", err))
		return
	}
	luid, err := l.b.register(&perspective{conn: c})
	if err != nil {
		l.b.fail(id, err)
		return
	}
	l.b.answer(id, l.b.export(luid))
}

// closed ends the logged-in connection's commands.
func (l *login) closed(err error) {
	if l.conn != nil {
		l.conn.closed(err)
	}
}

// perspective is the worker's avatar on the master: what the worker calls
// keepalive and shutdown on.
type perspective struct{ conn *conn }

func (p *perspective) remote(c *call) (any, error) {
	switch c.method {
	case "keepalive":
		return nil, nil
	case "shutdown":
		if !p.conn.shutdowns.AllowN(p.conn.srv.cfg.Now(), 1) {
			return nil, nil
		}
		p.conn.b.log.Info("pb: worker asks to shut down", "worker", p.conn.name)
		if f := p.conn.srv.cfg.ShutdownRequested; f != nil {
			go f(p.conn)
		}
		return nil, nil
	}
	return nil, noSuchMethod(c.method)
}
