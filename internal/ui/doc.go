// Package ui owns the master's web pages: it renders them on the server with
// html/template, each from one immutable read transaction of the state, and
// takes the operator's actions, which it hands to a Control.
//
// Pages (GET, each one HTTP request, complete without JavaScript):
//
//	/                              Home: builders coloured by their last result, failing first
//	                               (?tag=T filters), running builds with elapsed time and ETA, the queue
//	/builders/NAME                 history (?before=N pages), pending requests, running builds, force form
//	/builders/NAME/builds/N        steps, one log paged (?step=S&log=SLUG&from=L, ?find=error),
//	                               properties, changes, worker, stop/rebuild
//	/builds/ID                     redirects to /builders/NAME/builds/N
//	/console                       changes down, builders across (?tag=T, ?limit=N)
//	/grid                          builders down, branches across (?tag=T, ?branch=B)
//	/workers /changes /schedulers /requests /master
//	/ui/static/…                   ui.css and live.js, embedded
//
// Any page takes ?fragment=NAME and answers only that live region of itself;
// the build page's ?fragment=lines answers log lines from ?from=L as HTML.
//
// Actions are POSTs. Without JavaScript, forms post to the page's own
// resource (/builders/NAME/builds/N/stop, /requests/ID/cancel,
// /workers/NAME/pause …) and are redirected back (303), or shown the
// Control's error. With it, live.js posts Buildbot's JSON-RPC 2.0 to
// /api/v2/builds/ID, /api/v2/buildrequests/ID, /api/v2/workers/ID,
// /api/v2/schedulers/ID and /api/v2/forceschedulers/NAME. Both paths check
// Origin (see guard.go), ask Options.Can, and call the same Control method.
//
// live.js makes pages live: it speaks Buildbot's /ws protocol
// (startConsuming on the paths each live region names), patches builder
// tiles from build events at once, re-fetches a region's fragment at most
// once per burst, and follows the shown log by fetching its new lines on
// logs/ID/append.
package ui
