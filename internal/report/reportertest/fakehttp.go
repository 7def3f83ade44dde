// Package reportertest holds what the reporter clients' tests share: a
// fake HTTP target that records requests and answers as told (fail, rate
// limit, redirect, hang, drop, endless answer), a real SMTP server with
// STARTTLS or implicit TLS and AUTH PLAIN, a conformance suite every HTTP
// client runs, and sample reports. It is for tests only (it imports
// internal/testkit).
package reportertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Request is a request the fake received.
type Request struct {
	Method string
	// Path is as sent, escapes kept ("/api/v4/projects/g%2Fr/statuses/…").
	Path   string
	Header http.Header
	Body   []byte
}

// Answer is how the fake answers one request.
type Answer struct {
	Status int
	Header map[string]string
	Body   string
	// Hang: answer nothing until the client gives up.
	Hang bool
	// Drop: close the connection without answering.
	Drop bool
	// Endless: after the header, stream a body that never ends.
	Endless bool
}

// FakeHTTP is a local HTTP target on 127.0.0.1.
type FakeHTTP struct {
	*httptest.Server
	mu      sync.Mutex
	answers []Answer
	reqs    []Request
	arrived chan Request
}

// maxBody bounds what the fake records of one request.
const maxBody = 1 << 20

// NewFakeHTTP starts a fake that answers 201 with "{}" unless told
// otherwise; it is closed when the test ends.
func NewFakeHTTP(t testing.TB) *FakeHTTP {
	f := &FakeHTTP{arrived: make(chan Request, 1024)}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.CloseClientConnections() // ends hanging handlers
		f.Close()
	})
	return f
}

// Queue adds answers, used one per request in order; after them the
// default answer.
func (f *FakeHTTP) Queue(a ...Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append(f.answers, a...)
}

// Requests returns what was received so far.
func (f *FakeHTTP) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.reqs...)
}

// Arrived delivers each request as it arrives, before it is answered.
func (f *FakeHTTP) Arrived() <-chan Request { return f.arrived }

func (f *FakeHTTP) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	req := Request{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	a := Answer{Status: http.StatusCreated, Body: "{}"}
	if len(f.answers) > 0 {
		a, f.answers = f.answers[0], f.answers[1:]
	}
	f.mu.Unlock()
	select {
	case f.arrived <- req:
	default:
	}
	switch {
	case a.Hang:
		<-r.Context().Done()
		return
	case a.Drop:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range a.Header {
		w.Header().Set(k, v)
	}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	w.WriteHeader(a.Status)
	if !a.Endless {
		io.WriteString(w, a.Body)
		return
	}
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = 'x'
	}
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}
