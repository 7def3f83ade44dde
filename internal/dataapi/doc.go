// Package dataapi is the generic part of the data API (Buildbot's REST API,
// /api/v2): a request's query string parsed into a result specification
// (Query: field selection, filters, order, offset and limit, with Buildbot's
// spelling and semantics), evaluated over any collection of protobuf records
// (Collection), and rendered in Buildbot's envelope
// `{"<plural>": [...], "meta": {"total": N}}`.
//
// Endpoints are one Collection each; this package knows nothing of tables.
package dataapi
