// Package droplog logs what the master refuses from the network (wrong
// logins, malformed requests and frames) at a bounded rate, so that a
// stranger or a hostile worker who repeats a refused request cannot fill
// the disk with the master's log. The worker listeners and www share one
// Log (service.Runtime.Refusals), and so do the actors that refuse a
// control request's token; the control endpoint, whose honest peers are
// the operator's few CLI processes, has one of its own for what it refuses
// before any actor sees a request (one peer may spend all of it; the total
// stays bounded for any peers). The same budgets
// bound the lines a peer that has logged in can cause in a loop (LogAt,
// by name: service.Runtime.WorkerLines for a worker's connects); with
// Options.Summarize such a Log also logs, later, the last line a quiet
// source had dropped, so that its final state is seen.
//
// # Budgets
//
// A refusal is logged when both its source (its address: the IP without
// the port, an IPv6 address's /64, as addrbucket.Key) and all sources
// together have budget left; otherwise it is only counted, and the next
// line logged for that source says how many were not (attribute
// "not_logged_before"). Each source has its own budget so that one
// stranger's flood does not hide another's first refusals; the shared
// budget bounds the total when strangers use many addresses. With the
// defaults the log gets at most 10 lines a second (a burst of 50): enough
// to see an attack, too few for one to fill the disk.
//
// # Memory
//
// Strangers choose their addresses, so at most MaxSources sources are
// remembered (about 100 bytes each, in an addrbucket.Table). When the
// table is full, sources whose budget has refilled are forgotten first,
// then random ones until it is three quarters full; the refusals a
// forgotten source had not logged are told by the next line logged for
// anyone (attribute "not_logged_forgotten").
package droplog
