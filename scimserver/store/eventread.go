package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

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
		var seq int64
		var id string
		if err := rows.Scan(&seq, &id, &typ, &t, &kind, &rid, &data); err != nil {
			return nil, err
		}
		e, err := decodeEvent(seq, id, typ, t, kind, rid, data)
		if err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// decodeEvent builds an Event from its columns.
func decodeEvent(seq int64, id, typ string, t int64, kind, rid string, data []byte) (Event, error) {
	e := Event{Seq: seq, ID: id}
	// One decoding pass; numbers stay exact, as in documents read.
	var d eventData
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return e, fmt.Errorf("store: event %d: %w", e.Seq, err)
	}
	e.Type, e.Time = typ, time.Unix(0, t).UTC()
	e.Changes, e.Member = d.Changes, d.Member
	e.Resource = &Resource{
		Kind: Kind(kind), ID: rid, Doc: d.Doc,
		Created:      time.Unix(0, d.Created).UTC(),
		LastModified: time.Unix(0, d.Modified).UTC(),
		Version:      d.Version,
	}
	return e, nil
}

// WaitEvents implements EventLog.
func (s *SQLite) WaitEvents(ctx context.Context, after int64) error {
	return waitEvents(ctx, &s.events, after, s.EventHead)
}

// waitEvents blocks until head passes after, re-reading it after each
// wake-up of b, or until ctx ends.
func waitEvents(ctx context.Context, b *broadcast, after int64, head func(context.Context) (int64, error)) error {
	for {
		woken := b.wait() // before reading the head: no lost wake-up
		h, err := head(ctx)
		if err != nil {
			return err
		}
		if h > after {
			return nil
		}
		b.waiting.Add(1)
		select {
		case <-woken:
			b.waiting.Add(-1)
		case <-ctx.Done():
			b.waiting.Add(-1)
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
