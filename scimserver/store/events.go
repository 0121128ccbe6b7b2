package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

// The change log (package eventlog): every write transaction appends its
// events to the events table before it commits, so the log and the data
// never disagree, whatever instant the process dies at. The store keeps
// the raw document it already encoded for the write; rendering to SCIM
// happens when the log is read (package server), which keeps the write path
// cheap.

// EventLog reads and prunes the change log. Cursors (seq) are strictly
// increasing with no gaps between committed events.
type EventLog interface {
	// ReadEvents returns up to limit events with Seq > after, in order,
	// and the cursor to continue from: the last event's Seq, or when there
	// is none the newest Seq (so that a reader starting at 0 on a pruned
	// log does not come back to the same place). A cursor whose successor
	// was pruned, or that is ahead of the newest event (a restored
	// database), is eventlog.ErrExpired.
	ReadEvents(ctx context.Context, after int64, limit int) (evs []Event, next int64, err error)
	// EventHead returns the newest Seq ever written, 0 when none.
	EventHead(ctx context.Context) (int64, error)
	// WaitEvents blocks until an event with Seq > after is committed or
	// ctx ends. Commits wake it; it never polls.
	WaitEvents(ctx context.Context, after int64) error
	// PruneEvents deletes the events older than before (a prefix of the
	// log; never the newest event) in small transactions and returns how
	// many it deleted.
	PruneEvents(ctx context.Context, before time.Time) (int, error)
}

// Event is one stored event. Resource is the document as the event left it
// (for deletes: as it was), with the meta needed to render it; groups carry
// no members.
type Event struct {
	Seq      int64
	ID       string
	Type     string
	Time     time.Time
	Resource *Resource
	Changes  []eventlog.Change
	Member   *eventlog.Member
}

// secretAttrs are top-level document attributes never copied into the log:
// the password (SCIM returned "never") must not outlive its change in a
// 30-day log. A change of one is recorded as its path alone.
var secretAttrs = []string{"password"}

// ErrNoEventLog is returned by the EventLog methods of a store opened
// WithoutEventLog.
var ErrNoEventLog = errors.New("store: the change log is switched off")

// pruneBatch bounds one pruning transaction, so writers queued on the
// single write connection wait at most one small delete.
const pruneBatch = 500

// WithoutEventLog switches the change log off: writes append no events and
// the EventLog methods fail with ErrNoEventLog. For measuring the log's
// cost (bench_test.go) and opening databases older than the log (schema 3);
// a server always logs.
func WithoutEventLog() Option { return func(o *options) { o.noEvents = true } }

// broadcast wakes every WaitEvents after a commit that appended events. The
// channel is made lazily, so commits with no waiter allocate nothing.
type broadcast struct {
	mu      sync.Mutex
	ch      chan struct{}
	waiting atomic.Int64 // WaitEvents calls blocked right now
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
	b.mu.Unlock()
}

// eventWriter appends one transaction's events. A nil *eventWriter (log
// off) appends nothing.
type eventWriter struct {
	ctx   context.Context
	ins   *sql.Stmt
	now   int64
	wrote bool
}

func (s *SQLite) eventWriter(ctx context.Context, tx *sql.Tx, now time.Time) *eventWriter {
	if s.noEvents {
		return nil
	}
	return &eventWriter{ctx: ctx, ins: tx.StmtContext(ctx, s.stmts.insertEvent), now: now.UnixNano()}
}

func (w *eventWriter) add(typ string, kind Kind, id string, data []byte) error {
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

// eventData is the JSON of the data column, as read (snapshot writes it).
type eventData struct {
	Doc      map[string]any    `json:"doc"`
	Created  int64             `json:"created"`  // Unix nanoseconds
	Modified int64             `json:"modified"` // Unix nanoseconds
	Version  int64             `json:"version"`
	Changes  []eventlog.Change `json:"changes,omitempty"`
	Member   *eventlog.Member  `json:"member,omitempty"`
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

// with completes the snapshot with an event's changes or member.
func (p snapshot) with(changes []eventlog.Change, member *eventlog.Member) ([]byte, error) {
	b := slices.Clip([]byte(p))
	if len(changes) > 0 {
		c, err := json.Marshal(changes)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"changes":`...), c...)
	}
	if member != nil {
		m, err := json.Marshal(member)
		if err != nil {
			return nil, err
		}
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

// diffDocs lists the attributes that differ between two documents, with
// their previous values, sorted by path. Complex attributes (and extension
// objects) are compared one level down: name.givenName, and
// urn:...:enterprise:2.0:User:department for extension attributes.
// Multi-valued attributes (emails, addresses) are one path each.
func diffDocs(old, cur map[string]any) ([]eventlog.Change, error) {
	var out []eventlog.Change
	add := func(path string, prev any, had bool, secret bool) error {
		c := eventlog.Change{Path: path}
		if had && !secret {
			raw, err := json.Marshal(prev)
			if err != nil {
				return err
			}
			c.Previous = raw
		}
		out = append(out, c)
		return nil
	}
	for _, k := range unionKeys(old, cur) {
		ov, had := old[k]
		nv, has := cur[k]
		secret := slices.Contains(secretAttrs, k)
		om, oIsMap := ov.(map[string]any)
		nm, nIsMap := nv.(map[string]any)
		if (oIsMap || !had) && (nIsMap || !has) && !secret {
			sep := "."
			if strings.HasPrefix(strings.ToLower(k), "urn:") {
				sep = ":"
			}
			for _, sk := range unionKeys(om, nm) {
				osv, shad := om[sk]
				nsv, shas := nm[sk]
				if shad == shas && sameJSON(osv, nsv) {
					continue
				}
				if err := add(k+sep+sk, osv, shad, false); err != nil {
					return nil, err
				}
			}
			continue
		}
		if had == has && sameJSON(ov, nv) {
			continue
		}
		if err := add(k, ov, had, secret); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// sameJSON reports whether two decoded values encode alike: a document read
// back holds json.Number where the one a PATCH built may hold float64.
func sameJSON(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ra, err1 := json.Marshal(a)
	rb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ra, rb)
}

// isActive reads a user's active flag; absent means active.
func isActive(doc map[string]any) bool {
	switch v := doc["active"].(type) {
	case bool:
		return v
	case string:
		return !strings.EqualFold(v, "false")
	}
	return true
}

// userUpdateType is the one event a changed user emits: deactivation and
// reactivation are named for what they are (their changes list active and
// whatever else changed with it); anything else is user.updated.
func userUpdateType(old, cur map[string]any) string {
	switch was, is := isActive(old), isActive(cur); {
	case was && !is:
		return eventlog.UserDeactivated
	case !was && is:
		return eventlog.UserReactivated
	}
	return eventlog.UserUpdated
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
	changes, err := diffDocs(cur.Doc, doc)
	if err != nil {
		return err
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
	err := tx.StmtContext(ctx, s.stmts.rawForDelete).QueryRowContext(ctx, string(kind), id).
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
	if _, err := tx.StmtContext(ctx, s.stmts.deleteRID).ExecContext(ctx, rid); err != nil {
		return err
	}
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
	rows, err := tx.StmtContext(ctx, s.stmts.groupsOfRID).QueryContext(ctx, rid)
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

// EventHead implements EventLog.
func (s *SQLite) EventHead(ctx context.Context) (int64, error) {
	if s.noEvents {
		return 0, ErrNoEventLog
	}
	return head(ctx, s.stmts.eventHead)
}

func head(ctx context.Context, st *sql.Stmt) (int64, error) {
	var seq int64
	err := st.QueryRowContext(ctx).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, err
}

// ReadEvents implements EventLog. Events and the cursor checks come from one
// snapshot, so pruning or writes in between cannot make them disagree.
func (s *SQLite) ReadEvents(ctx context.Context, after int64, limit int) ([]Event, int64, error) {
	if s.noEvents {
		return nil, 0, ErrNoEventLog
	}
	if after < 0 {
		return nil, 0, fmt.Errorf("store: negative cursor %d", after)
	}
	if limit < 1 {
		return nil, 0, fmt.Errorf("store: limit %d must be positive", limit)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	rows, err := tx.StmtContext(ctx, s.stmts.readEvents).QueryContext(ctx, after, limit)
	if err != nil {
		return nil, 0, err
	}
	evs, err := scanEvents(rows, limit)
	if err != nil {
		return nil, 0, err
	}
	if len(evs) > 0 && (after == 0 || evs[0].Seq == after+1) {
		return evs, evs[len(evs)-1].Seq, nil // the common case: one query
	}
	if len(evs) > 0 {
		return nil, 0, expired("events %d to %d were pruned", after+1, evs[0].Seq-1)
	}
	h, err := head(ctx, tx.StmtContext(ctx, s.stmts.eventHead))
	if err != nil {
		return nil, 0, err
	}
	switch {
	case after > h:
		return nil, 0, expired("cursor %d is ahead of the newest event %d (was the database restored from a backup?)", after, h)
	case after > 0 && after < h:
		return nil, 0, expired("events %d to %d were pruned", after+1, h)
	}
	return nil, h, nil
}

// cursorError says why a cursor cannot be continued; it is
// eventlog.ErrExpired.
type cursorError struct{ msg string }

func (e *cursorError) Error() string        { return e.msg }
func (e *cursorError) Is(target error) bool { return target == eventlog.ErrExpired }

func expired(format string, args ...any) error {
	return &cursorError{msg: fmt.Sprintf(format, args...)}
}

func scanEvents(rows *sql.Rows, limit int) ([]Event, error) {
	defer rows.Close()
	evs := make([]Event, 0, min(limit, 128))
	var (
		typ, kind, rid string
		t              int64
		data           sql.RawBytes
	)
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.Seq, &e.ID, &typ, &t, &kind, &rid, &data); err != nil {
			return nil, err
		}
		// One decoding pass; numbers stay exact, as in documents read.
		var d eventData
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("store: event %d: %w", e.Seq, err)
		}
		e.Type, e.Time = typ, time.Unix(0, t).UTC()
		e.Changes, e.Member = d.Changes, d.Member
		e.Resource = &Resource{
			Kind: Kind(kind), ID: rid, Doc: d.Doc,
			Created:      time.Unix(0, d.Created).UTC(),
			LastModified: time.Unix(0, d.Modified).UTC(),
			Version:      d.Version,
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// WaitEvents implements EventLog.
func (s *SQLite) WaitEvents(ctx context.Context, after int64) error {
	for {
		woken := s.events.wait() // before reading the head: no lost wake-up
		h, err := s.EventHead(ctx)
		if err != nil {
			return err
		}
		if h > after {
			return nil
		}
		s.events.waiting.Add(1)
		select {
		case <-woken:
			s.events.waiting.Add(-1)
		case <-ctx.Done():
			s.events.waiting.Add(-1)
			return ctx.Err()
		}
	}
}

// EventWaiters is the number of WaitEvents calls blocked for a commit (the
// feed's long polls and idle webhook deliveries): a gauge, and what tests
// wait for before writing, to prove a commit wakes them.
func (s *SQLite) EventWaiters() int { return int(s.events.waiting.Load()) }

// PruneEvents implements EventLog: it deletes the events older than
// before, oldest first, pruneBatch per transaction, and always keeps the
// newest event (its seq is what the next one counts from, so a cursor is
// never reused). The cut is found by binary search over seq, which is
// gap-free from the oldest event to the newest; if the clock stepped back
// between writes, the search still cuts a prefix, a little early or late.
func (s *SQLite) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	if s.noEvents {
		return 0, ErrNoEventLog
	}
	var lo, hi int64
	if err := s.stmts.eventRange.QueryRowContext(ctx).Scan(&lo, &hi); err != nil || hi-lo < 1 {
		return 0, err
	}
	old := func(seq int64) (bool, error) {
		var t int64
		err := s.stmts.eventTime.QueryRowContext(ctx, seq).Scan(&t)
		return t < before.UnixNano(), err
	}
	// Largest cut in [lo, hi-1] with an old event at it; none if lo is new.
	cut := lo - 1
	for l, h := lo, hi-1; l <= h; {
		mid := l + (h-l)/2
		isOld, err := old(mid)
		if err != nil {
			return 0, fmt.Errorf("store: prune events: %w", err)
		}
		if isOld {
			cut, l = mid, mid+1
		} else {
			h = mid - 1
		}
	}
	total := 0
	for cut >= lo {
		res, err := s.stmts.pruneEvents.ExecContext(ctx, cut, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("store: prune events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < pruneBatch {
			return total, nil
		}
	}
	return total, nil
}
