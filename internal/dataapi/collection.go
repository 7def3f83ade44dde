package dataapi

import (
	"iter"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Collection is one table the data API serves, e.g. changes.
type Collection struct {
	// Plural names the collection in the envelope, e.g. "changes".
	Plural string
	// ID is the field of the natural order (ascending id), e.g. changeid.
	ID protoreflect.FieldDescriptor
	// Scan yields every row in natural order, or reversed.
	Scan func(descending bool) iter.Seq[proto.Message]
	// Count returns the number of rows, cheaply.
	Count func() int
	// ScanEq, when set, yields in natural order (or reversed) just the rows
	// whose field equals v, from an index; ok is false when field has none.
	ScanEq func(field protoreflect.FieldDescriptor, v protoreflect.Value, descending bool) (rows iter.Seq[proto.Message], ok bool)
	// Unfinished, when set, yields in natural order (or reversed) a part of
	// Scan's rows that holds every row for which a boolean field or flag
	// named in UnfinishedWhen is false (e.g. the rows of a table without
	// its archive, whose rows are all complete), so that a query with a
	// filter that holds only where such a field is false reads just these.
	Unfinished     func(descending bool) iter.Seq[proto.Message]
	UnfinishedWhen []string
}

// unfinished reports whether q has a filter that holds only for rows whose
// field or flag named in UnfinishedWhen is false (e.g. complete=false).
func (c *Collection) unfinished(q *Query) bool {
	if c.Unfinished == nil {
		return false
	}
	for _, f := range q.Filters {
		if slices.Contains(c.UnfinishedWhen, f.Name) && f.rejectsTrue() {
			return true
		}
	}
	return false
}

// source is where a streaming Run reads: the unfinished rows when a filter
// holds only for them, an index when a filter is an equality the
// collection has an index for, or else every row.
func (c *Collection) source(q *Query, desc bool) iter.Seq[proto.Message] {
	if c.unfinished(q) {
		return c.Unfinished(desc)
	}
	if c.ScanEq != nil {
		for _, f := range q.Filters {
			if f.Op == "eq" && len(f.Values) == 1 && f.Field != nil {
				if rows, ok := c.ScanEq(f.Field, f.Values[0], desc); ok {
					return rows
				}
			}
		}
	}
	return c.Scan(desc)
}

// Run evaluates q over the collection and returns the page it asks for and
// the number of rows that match (Buildbot's meta.total). When q sorts by
// nothing or by the id alone, rows stream in index order and the scan stops
// as soon as the page is full, unless filters make it count every match;
// otherwise the matches are sorted in memory. An equality filter on an
// indexed field reads just the matching rows (ScanEq), and one that holds
// only for unfinished rows reads just those (Unfinished).
func (c *Collection) Run(q *Query) (page []proto.Message, total int) {
	desc, streaming := false, len(q.Order) == 0
	if len(q.Order) == 1 && q.Order[0].Field == c.ID {
		desc, streaming = q.Order[0].Desc, true
	}
	end := q.Offset + q.Limit
	if q.Limit == 0 {
		end = -1
	}
	if streaming {
		for row := range c.source(q, desc) {
			if !q.Match(row.ProtoReflect()) {
				continue
			}
			if total >= q.Offset && (end < 0 || total < end) {
				page = append(page, row)
			}
			total++
			if len(q.Filters) == 0 && end >= 0 && total >= end {
				return page, c.Count()
			}
		}
		return page, total
	}
	var all []proto.Message
	rows := c.Scan(false)
	if c.unfinished(q) {
		rows = c.Unfinished(false)
	}
	for row := range rows {
		if q.Match(row.ProtoReflect()) {
			all = append(all, row)
		}
	}
	slices.SortStableFunc(all, func(a, b proto.Message) int { return q.Compare(a.ProtoReflect(), b.ProtoReflect()) })
	total = len(all)
	if q.Offset >= total {
		return nil, total
	}
	all = all[q.Offset:]
	if q.Limit > 0 && q.Limit < len(all) {
		all = all[:q.Limit]
	}
	return all, total
}
