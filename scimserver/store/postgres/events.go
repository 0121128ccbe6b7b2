package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scim-operator/scim-operator/scimserver/store"
)

// notifyChannel carries, as payload, the schema whose change log grew.
// Every tenant of a database shares it; a listener keeps its own schema's.
const notifyChannel = "scim_events"

// EventHead implements store.EventLog: the newest seq ever given.
func (s *Store) EventHead(ctx context.Context) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT seq FROM event_head`).Scan(&seq)
	return seq, classify(err)
}

// ReadEvents implements store.EventLog, with the SQLite store's cursor
// semantics; events and cursor checks come from one snapshot.
func (s *Store) ReadEvents(ctx context.Context, after int64, limit int) ([]store.Event, int64, error) {
	if after < 0 {
		return nil, 0, fmt.Errorf("postgres: negative cursor %d", after)
	}
	if limit < 1 {
		return nil, 0, fmt.Errorf("postgres: limit %d must be positive", limit)
	}
	var (
		evs  []store.Event
		next int64
	)
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, id, type, time, kind, resource_id, data FROM events
			WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		var (
			seq, t                   int64
			id, typ, kind, rid, data string
		)
		evs = make([]store.Event, 0, min(limit, 128))
		_, err = pgx.ForEachRow(rows, []any{&seq, &id, &typ, &t, &kind, &rid, &data}, func() error {
			e, err := store.DecodeEvent(seq, id, typ, t, kind, rid, []byte(data))
			evs = append(evs, e)
			return err
		})
		if err != nil {
			return err
		}
		if len(evs) > 0 && (after == 0 || evs[0].Seq == after+1) {
			next = evs[len(evs)-1].Seq
			return nil
		}
		if len(evs) > 0 {
			first := evs[0].Seq
			evs = nil
			return store.ExpiredCursor("events %d to %d were pruned", after+1, first-1)
		}
		var h int64
		if err := tx.QueryRow(ctx, `SELECT seq FROM event_head`).Scan(&h); err != nil {
			return err
		}
		switch {
		case after > h:
			return store.ExpiredCursor("cursor %d is ahead of the newest event %d (was the database restored from a backup?)", after, h)
		case after > 0 && after < h:
			return store.ExpiredCursor("events %d to %d were pruned", after+1, h)
		}
		next = h
		return nil
	})
	if err != nil {
		return nil, 0, classify(err)
	}
	return evs, next, nil
}

// WaitEvents implements store.EventLog: commits of this process wake it
// directly, those of other replicas through LISTEN (listen).
func (s *Store) WaitEvents(ctx context.Context, after int64) error {
	return s.events.Wait(ctx, after, s.EventHead)
}

// EventWaiters is the number of WaitEvents calls blocked now.
func (s *Store) EventWaiters() int { return s.events.Waiters() }

// PruneEvents implements store.EventLog: it deletes, oldest first and at
// most pruneBatch per transaction, the prefix of the log older than
// before (stopping at the first newer event, whatever the clock did), and
// keeps the newest event, as the SQLite store does.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	const pruneBatch = 500
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, `WITH b AS (SELECT seq, time FROM events ORDER BY seq LIMIT $2),
			cut AS (SELECT coalesce((SELECT min(seq) - 1 FROM b WHERE time >= $1), (SELECT max(seq) FROM b)) AS c)
			DELETE FROM events WHERE seq <= (SELECT c FROM cut) AND seq < (SELECT seq FROM event_head)`,
			before.UnixNano(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("postgres: prune events: %w", classify(err))
		}
		n := int(tag.RowsAffected())
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// listen wakes WaitEvents when another replica commits events: a
// dedicated connection LISTENs; when it breaks it reconnects (after a
// second, not to spin while the database is down) and wakes every waiter,
// since notifications sent meanwhile were lost.
func (s *Store) listen(ctx context.Context) {
	defer close(s.done)
	for {
		err := s.listenOnce(ctx)
		s.events.Notify()
		if ctx.Err() != nil {
			return
		}
		_ = err // the database is down: the requests report it, Ping fails
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	cc := s.pool.Config().ConnConfig.Copy()
	s.urls.apply(cc)
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
		return err
	}
	s.events.Notify() // commits before LISTEN took effect
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload == s.schema {
			s.events.Notify()
		}
	}
}
