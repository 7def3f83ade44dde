package ui

import (
	"net/http"

	"github.com/buildmaster/buildmaster/messages"
)

// requestsPage is the data of templates/requests.html: the build requests
// waiting for a worker, oldest first.
type requestsPage struct {
	*view
	Queue []*queued
	Total int
}

const maxRequests = 500

func (u *UI) requests(_ *http.Request, v *view) (any, error) {
	p := &requestsPage{view: v}
	p.Queue, p.Total = v.queue(func(*messages.BuildRequest) bool { return true }, maxRequests)
	return p, nil
}
