package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// What other Store implementations (package store/postgres) share with
// SQLite, so the two derive indexed values, documents, events and cursors
// the same way and cannot drift. Each is a thin wrapper of the SQLite
// store's own helper.

// ErrUnavailable marks an error of a store that cannot be reached right
// now (a database outage, a failover): the server answers 503 with
// Retry-After instead of 500, and the request may be retried as is.
var ErrUnavailable = errors.New("store: database unavailable")

// Unavailable wraps err as ErrUnavailable, keeping its text for the logs.
func Unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// CheckKind fails for a kind the store does not serve.
func CheckKind(kind Kind) error { return checkKind(kind) }

// Indexed are the column values a document's indexed attributes take:
// strings, or nil (NULL) when the attribute is absent or empty. UserName
// and DisplayFolded are Fold-ed.
type Indexed struct {
	UserName, ExternalID, DisplayName, DisplayFolded any
}

// IndexOf derives the indexed column values of a document.
func IndexOf(kind Kind, doc map[string]any) Indexed {
	ix := indexOf(kind, doc)
	return Indexed{ix.userName, ix.externalID, ix.displayName, ix.displayFolded}
}

// LookupColumn resolves a Lookup to its column (id, user_name_folded,
// external_id, display_name_folded) and the value to compare with it.
func LookupColumn(kind Kind, l *Lookup) (column, value string, err error) {
	attr, value, err := lookupArgs(kind, l)
	if err != nil {
		return "", "", err
	}
	return lookupCols[attr], value, nil
}

// OrderColumn is the indexed column an Order with Column set pages on.
func OrderColumn(o *Order) (string, error) {
	col, ok := lookupCols[o.Column]
	if !ok || col == "id" || col == "external_id" {
		return "", fmt.Errorf("store: cannot order by column %q", o.Column)
	}
	return col, nil
}

// DecodeResource builds a Resource from its stored columns (times in Unix
// nanoseconds, doc the JSON text), numbers kept exact.
func DecodeResource(kind Kind, id string, doc []byte, created, modified, version int64) (*Resource, error) {
	c := cols{id: id, created: created, modified: modified, version: version}
	return c.resource(kind, doc, true)
}

// RawResource builds a Resource from its stored columns without decoding
// the document: Doc is nil and Raw is doc (RawReader, Query.RawOnly).
func RawResource(kind Kind, id string, doc []byte, created, modified, version int64) *Resource {
	c := cols{id: id, created: created, modified: modified, version: version}
	r, _ := c.resource(kind, doc, false) // no error without decoding
	r.Raw = doc
	return r
}

// Compile returns the test of a document's raw JSON text (nil: no test).
// The function reuses a buffer: use it from one goroutine.
func (t *Text) Compile() func(raw []byte) bool { return t.compile() }

// DecodeEvent builds an Event from its stored columns.
func DecodeEvent(seq int64, id, typ string, t int64, kind, resourceID string, data []byte) (Event, error) {
	return decodeEvent(seq, id, typ, t, kind, resourceID, data)
}

// ExpiredCursor is the eventlog.ErrExpired error ReadEvents returns.
func ExpiredCursor(format string, args ...any) error { return expired(format, args...) }

// MemberChanges records a transaction's membership changes for its events:
// Saw(id, was, is) for each member touched, in order.
type MemberChanges struct{ t memberTracker }

// Saw records that member id was (or not) and now is (or not) a member.
func (m *MemberChanges) Saw(id string, was, is bool) { m.t.saw(id, was, is) }

// PendingEvent is one event a write transaction appends; the store gives
// it its seq when it stores it.
type PendingEvent struct {
	ID, Type   string
	Kind       Kind
	ResourceID string
	Data       []byte
}

// EventBatch builds the events of one write transaction, exactly as the
// SQLite store appends them, for a store that inserts them itself.
type EventBatch struct {
	w      eventWriter
	Events []PendingEvent
}

// NewEventBatch starts the events of a transaction committed at now.
func NewEventBatch(ctx context.Context, now time.Time) *EventBatch {
	b := &EventBatch{}
	b.w = eventWriter{ctx: ctx, now: now.UnixNano(), sink: func(id, typ string, kind Kind, rid string, data []byte) error {
		b.Events = append(b.Events, PendingEvent{ID: id, Type: typ, Kind: kind, ResourceID: rid, Data: data})
		return nil
	}}
	return b
}

// Created appends the events of a Create; enc is r.Doc encoded.
func (b *EventBatch) Created(r *Resource, enc []byte, m *MemberChanges) error {
	return b.w.logCreate(r, enc, m.t.deltas())
}

// Updated appends the events of an Update from cur to doc (enc encoded).
func (b *EventBatch) Updated(kind Kind, cur *Resource, doc map[string]any, enc []byte, m *MemberChanges) error {
	return b.w.logUpdate(kind, cur, doc, enc, m.t.deltas())
}

// LeftGroup appends the group.member_removed of a deleted user leaving a
// group (the group's stored columns as they are).
func (b *EventBatch) LeftGroup(groupID string, groupDoc []byte, created, modified, version int64, userID string) error {
	return b.w.memberEvents(groupID, newSnapshot(groupDoc, created, modified, version), []memberDelta{{id: userID}})
}

// Deleted appends user.deleted or group.deleted (raw: the stored document).
func (b *EventBatch) Deleted(kind Kind, id string, raw []byte, created, modified, version int64) error {
	return b.w.logDelete(kind, id, raw, created, modified, version)
}

// Wakeup wakes the WaitEvents calls blocked on a store after a commit.
type Wakeup struct{ b broadcast }

// Notify wakes every waiter.
func (w *Wakeup) Notify() { w.b.notify() }

// Waiters is how many Wait calls are blocked now.
func (w *Wakeup) Waiters() int { return int(w.b.waiting.Load()) }

// Wait blocks until head reports an event after `after`, re-reading it
// after each Notify, or until ctx ends.
func (w *Wakeup) Wait(ctx context.Context, after int64, head func(context.Context) (int64, error)) error {
	return waitEvents(ctx, &w.b, after, head)
}
