package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

// eventWriter appends one transaction's events. A nil *eventWriter (log
// off) appends nothing.
type eventWriter struct {
	ctx   context.Context
	ins   *sql.Stmt
	now   int64
	wrote bool
	// sink, when set, receives the events instead of ins (EventBatch).
	sink func(id, typ string, kind Kind, rid string, data []byte) error
}

func (s *SQLite) eventWriter(ctx context.Context, tx *sql.Tx, now time.Time) *eventWriter {
	if s.noEvents {
		return nil
	}
	return &eventWriter{ctx: ctx, ins: s.in(tx, s.stmts.insertEvent), now: now.UnixNano()}
}

func (w *eventWriter) add(typ string, kind Kind, id string, data []byte) error {
	if w.sink != nil {
		w.wrote = true
		return w.sink(uuid.NewString(), typ, kind, id, data)
	}
	if _, err := w.ins.ExecContext(w.ctx, uuid.NewString(), typ, w.now, string(kind), id, data); err != nil {
		return fmt.Errorf("store: append event: %w", err)
	}
	w.wrote = true
	return nil
}

// committed wakes the waiting readers once the transaction is durable.
func (s *SQLite) committed(w *eventWriter) {
	if w != nil && w.wrote {
		s.events.notify()
	}
}

// snapshot is the data prefix shared by the events of one resource state:
// built once, so a batch of 100 member events encodes the group once.
type snapshot []byte

func newSnapshot(doc []byte, created, modified, version int64) snapshot {
	b := make([]byte, 0, len(doc)+80)
	b = append(b, `{"doc":`...)
	b = append(b, doc...)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"modified":`...)
	b = strconv.AppendInt(b, modified, 10)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, version, 10)
	return b
}

// with completes the snapshot with an event's changes or member. The
// snapshot is shared by a write's events, so each event gets its own copy,
// allocated once at its final size.
func (p snapshot) with(changes []eventlog.Change, member *eventlog.Member) ([]byte, error) {
	var c, m []byte
	var err error
	if len(changes) > 0 {
		if c, err = json.Marshal(changes); err != nil {
			return nil, err
		}
	}
	if member != nil {
		if m, err = json.Marshal(member); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, len(p)+len(`,"changes":`)+len(c)+len(`,"member":`)+len(m)+1)
	b = append(b, p...)
	if c != nil {
		b = append(append(b, `,"changes":`...), c...)
	}
	if m != nil {
		b = append(append(b, `,"member":`...), m...)
	}
	return append(b, '}'), nil
}

// loggedDoc is the document JSON as the log keeps it: enc (doc encoded)
// unless doc holds a secret attribute, which is then left out.
func loggedDoc(doc map[string]any, enc []byte) ([]byte, error) {
	has := false
	for _, k := range secretAttrs {
		if _, ok := doc[k]; ok {
			has = true
		}
	}
	if !has {
		return enc, nil
	}
	cp := make(map[string]any, len(doc))
	for k, v := range doc {
		if !slices.Contains(secretAttrs, k) {
			cp[k] = v
		}
	}
	return json.Marshal(cp)
}

// loggedRawDoc is loggedDoc for a document read from the database.
func loggedRawDoc(raw []byte) ([]byte, error) {
	for _, k := range secretAttrs {
		if bytes.Contains(raw, []byte(`"`+k+`"`)) {
			var doc map[string]any
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			if err := d.Decode(&doc); err != nil {
				return nil, err
			}
			return loggedDoc(doc, raw)
		}
	}
	return raw, nil
}

// memberDelta is one net membership change of a transaction.
type memberDelta struct {
	id    string
	added bool
}

// memberTracker records the net effect of a transaction's member
// operations: a member added then removed again changed nothing, and an
// add of a member already there is no change.
type memberTracker struct {
	order []string
	state map[string]*[2]bool // id -> {was a member, is a member}
}

func (t *memberTracker) saw(id string, was, is bool) {
	if t == nil {
		return
	}
	if st, ok := t.state[id]; ok {
		st[1] = is
		return
	}
	if t.state == nil {
		t.state = map[string]*[2]bool{}
	}
	t.state[id] = &[2]bool{was, is}
	t.order = append(t.order, id)
}

func (t *memberTracker) deltas() []memberDelta {
	if t == nil {
		return nil
	}
	var out []memberDelta
	for _, id := range t.order {
		if st := t.state[id]; st[0] != st[1] {
			out = append(out, memberDelta{id: id, added: st[1]})
		}
	}
	return out
}

// memberEvents appends one event per net membership change of group id.
func (w *eventWriter) memberEvents(id string, snap snapshot, deltas []memberDelta) error {
	for _, d := range deltas {
		typ := eventlog.GroupMemberRemove
		if d.added {
			typ = eventlog.GroupMemberAdded
		}
		data, err := snap.with(nil, &eventlog.Member{Value: d.id, Type: string(User)})
		if err != nil {
			return err
		}
		if err := w.add(typ, Group, id, data); err != nil {
			return err
		}
	}
	return nil
}

// logCreate appends the events of a Create.
func (w *eventWriter) logCreate(r *Resource, enc []byte, deltas []memberDelta) error {
	doc, err := loggedDoc(r.Doc, enc)
	if err != nil {
		return err
	}
	snap := newSnapshot(doc, w.now, w.now, 1)
	typ := eventlog.UserCreated
	if r.Kind == Group {
		typ = eventlog.GroupCreated
	}
	data, err := snap.with(nil, nil)
	if err != nil {
		return err
	}
	if err := w.add(typ, r.Kind, r.ID, data); err != nil {
		return err
	}
	return w.memberEvents(r.ID, snap, deltas)
}

// logUpdate appends the events of an Update: one for the document when
// an attribute changed (none when nothing did), then one per net
// membership change.
func (w *eventWriter) logUpdate(kind Kind, cur *Resource, doc map[string]any, enc []byte, deltas []memberDelta) error {
	var changes []eventlog.Change
	// The same encoding is the same document (json.Marshal is
	// deterministic, and diffDocs compares encodings): a member-only
	// PATCH of a group skips the walk.
	if cur.Raw == nil || !bytes.Equal(cur.Raw, enc) {
		var err error
		if changes, err = diffDocs(cur.Doc, doc); err != nil {
			return err
		}
	}
	if len(changes) == 0 && len(deltas) == 0 {
		return nil
	}
	logged, err := loggedDoc(doc, enc)
	if err != nil {
		return err
	}
	snap := newSnapshot(logged, cur.Created.UnixNano(), w.now, cur.Version+1)
	if len(changes) > 0 {
		typ := eventlog.GroupUpdated
		if kind == User {
			typ = userUpdateType(cur.Doc, doc)
		}
		data, err := snap.with(changes, nil)
		if err != nil {
			return err
		}
		if err := w.add(typ, kind, cur.ID, data); err != nil {
			return err
		}
	}
	return w.memberEvents(cur.ID, snap, deltas)
}

// deleteLogged removes a resource inside tx and appends its events: for a
// user, one group.member_removed per group it was in (the group as it is),
// then user.deleted; for a group, group.deleted. Both carry the resource
// as it was.
func (s *SQLite) deleteLogged(ctx context.Context, tx *sql.Tx, w *eventWriter, kind Kind, id string) error {
	var (
		rid, created, modified, version int64
		raw                             []byte
	)
	err := s.in(tx, s.stmts.rawForDelete).QueryRowContext(ctx, string(kind), id).
		Scan(&rid, &raw, &created, &modified, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if kind == User {
		if err := s.logLeaveGroups(ctx, tx, w, rid, id); err != nil {
			return err
		}
	}
	if _, err := s.in(tx, s.stmts.deleteRID).ExecContext(ctx, rid); err != nil {
		return err
	}
	return w.logDelete(kind, id, raw, created, modified, version)
}

// logDelete appends user.deleted or group.deleted, carrying the resource
// as it was (raw: its stored document).
func (w *eventWriter) logDelete(kind Kind, id string, raw []byte, created, modified, version int64) error {
	doc, err := loggedRawDoc(raw)
	if err != nil {
		return err
	}
	data, err := newSnapshot(doc, created, modified, version).with(nil, nil)
	if err != nil {
		return err
	}
	typ := eventlog.UserDeleted
	if kind == Group {
		typ = eventlog.GroupDeleted
	}
	return w.add(typ, kind, id, data)
}

// logLeaveGroups appends group.member_removed for each group user rid is in.
func (s *SQLite) logLeaveGroups(ctx context.Context, tx *sql.Tx, w *eventWriter, rid int64, id string) error {
	rows, err := s.in(tx, s.stmts.groupsOfRID).QueryContext(ctx, rid)
	if err != nil {
		return err
	}
	type grp struct {
		id                         string
		doc                        []byte
		created, modified, version int64
	}
	var groups []grp
	for rows.Next() {
		var g grp
		if err := rows.Scan(&g.id, &g.doc, &g.created, &g.modified, &g.version); err != nil {
			rows.Close()
			return err
		}
		groups = append(groups, g)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, g := range groups {
		snap := newSnapshot(g.doc, g.created, g.modified, g.version)
		if err := w.memberEvents(g.id, snap, []memberDelta{{id: id}}); err != nil {
			return err
		}
	}
	return nil
}
