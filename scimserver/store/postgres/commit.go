package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/groupcommit"
)

// Group commit, as the SQLite store does it (package store,
// groupcommit.go): the concurrent writes of one process share one
// transaction, each in a savepoint of its own (one that fails undoes only
// itself), and each is acknowledged only after the shared COMMIT returned,
// so an acknowledged write is as durable as before.
//
// Why: every write ends by taking the tenant's event_head row lock (the
// gap-free, commit-ordered seq needs it), and PostgreSQL holds it until
// COMMIT returns, WAL flush included. One write per commit made a
// tenant's write rate 1/commit latency whatever the replica count or the
// cores. A batch pays the lock and the flush once: the events and counts
// of all its writes are appended together, at its end (commitTail).

// maxBatch bounds the writes one transaction carries: a waiting write's
// latency stays bounded under a flood, and the savepoints that wrote stay
// within the 64 subtransaction ids PostgreSQL caches per backend (beyond
// them every snapshot of every backend pays a lookup in pg_subtrans).
const maxBatch = 32

// writeTimeout bounds one batch's statements, so a database that stops
// answering (no reset, no refusal) fails the waiting writes instead of
// holding them forever.
const writeTimeout = 30 * time.Second

// tailPart is what one write appends at the end of the shared
// transaction: the change of its kind's total and its events.
type tailPart struct {
	kind   store.Kind
	delta  int
	now    int64 // the events' time, Unix nanoseconds
	events *store.EventBatch
}

// writeFunc is one write's work in the shared transaction.
type writeFunc func(ctx context.Context, tx dbtx) (tailPart, error)

// errClosed answers writes after Close.
var errClosed = errors.New("postgres: store closed")

// runBatch runs batch, again when PostgreSQL aborted it to break a
// deadlock (replicas locking the same rows in other orders). A batch of
// several that lost runs its writes one by one instead: the same batch
// would likely meet the same peer again, and a write alone deadlocks no
// more often than before group commit.
func (s *Store) runBatch(batch []*groupcommit.Job[writeFunc]) {
	for attempt := 1; ; attempt++ {
		results, retry := s.runOnce(batch)
		switch {
		case retry == nil:
			for i, j := range batch {
				j.Finish(results[i])
			}
			return
		case len(batch) > 1:
			for _, j := range batch {
				s.runBatch([]*groupcommit.Job[writeFunc]{j})
			}
			return
		case attempt >= maxAttempts:
			batch[0].Finish(groupcommit.Result{Err: classify(retry)})
			return
		}
	}
}

// retryable reports a transaction PostgreSQL aborted to break a deadlock
// or a serialisation conflict: running it again may succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// runOnce runs batch in one transaction. It returns each write's result,
// or a non-nil retry error (and nothing done) when the transaction was
// chosen as a deadlock victim. BEGIN and the savepoints travel with the
// writes' first statements, the tail with COMMIT (pipe): a lone write is
// two round trips, each further write of a batch one or two.
func (s *Store) runOnce(batch []*groupcommit.Job[writeFunc]) (results []groupcommit.Result, retry error) {
	results = make([]groupcommit.Result, len(batch))
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return failAll(results, err)
	}
	// A connection released inside a transaction (an error path that
	// could not roll back) is closed by the pool, not reused.
	defer c.Release()
	p := &pipe{conn: c.Conn()}
	rollback := func() {
		p.pending = nil
		_, _ = p.conn.Exec(ctx, `ROLLBACK`) // outside a transaction: a warning
	}
	p.Later(`BEGIN`)
	// A lone write needs no savepoint: if it fails, the transaction
	// rolls back.
	alone := len(batch) == 1
	parts := make([]tailPart, 0, len(batch))
	opened := false // a savepoint is open
	for i, j := range batch {
		if !alone {
			if opened {
				p.Later(`RELEASE SAVEPOINT w`)
			}
			p.Later(`SAVEPOINT w`)
			opened = true
		}
		jctx, jcancel := context.WithTimeout(j.Ctx, writeTimeout)
		part, r := runJob(jctx, j, p)
		jcancel()
		if r.Err == nil && r.Panic == nil {
			parts = append(parts, part)
			continue
		}
		if retryable(r.Err) {
			rollback()
			return nil, r.Err
		}
		r.Err = classify(r.Err)
		results[i] = r
		if alone {
			rollback()
			return results, nil
		}
		// Undo this write only (after its savepoint, if still pending).
		if _, err := p.Exec(ctx, `ROLLBACK TO SAVEPOINT w`); err != nil {
			rollback()
			return failAll(results, fmt.Errorf("postgres: roll back a failed write: %w", err))
		}
	}
	if len(parts) == 0 {
		rollback()
		return results, nil
	}
	if err := s.commitTail(ctx, p, parts); err != nil {
		rollback()
		return failAll(results, err)
	}
	return results, nil
}

// failAll gives err to every write of a batch that has no error of its own
// (nothing of theirs was committed), or asks for a retry of a deadlock.
func failAll(results []groupcommit.Result, err error) ([]groupcommit.Result, error) {
	if retryable(err) {
		return nil, err
	}
	err = classify(err)
	for i := range results {
		if results[i].Err == nil && results[i].Panic == nil {
			results[i].Err = err
		}
	}
	return results, nil
}

// runJob runs one write, turning a panic into a result for its caller.
func runJob(ctx context.Context, j *groupcommit.Job[writeFunc], tx dbtx) (part tailPart, r groupcommit.Result) {
	r = groupcommit.Protect(func() (err error) {
		part, err = j.Fn(ctx, tx)
		return err
	})
	return part, r
}

// commitTail appends, in one round trip with COMMIT, what the batch's
// writes do last:
// the totals of each kind moved by their deltas, their events with the
// next seqs from event_head, in the order the writes ran, and a NOTIFY
// (sent by PostgreSQL at commit). Locking event_head serialises the
// tenant's transactions from there to their commit: that keeps seq
// gap-free and in commit order, and is why it comes last. Counts rows are
// locked in kind order, then event_head, the same order in every
// transaction of every replica.
func (s *Store) commitTail(ctx context.Context, p *pipe, parts []tailPart) error {
	batch := &pgx.Batch{}
	deltas := map[store.Kind]int{}
	n := 0
	for _, p := range parts {
		deltas[p.kind] += p.delta
		if p.events != nil {
			n += len(p.events.Events)
		}
	}
	kinds := make([]store.Kind, 0, len(deltas))
	for k, d := range deltas {
		if d != 0 {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		batch.Queue(`UPDATE counts SET n = n + $2 WHERE kind = $1`, string(k), deltas[k])
	}
	if n > 0 {
		ids, types, kinds, rids, data := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		times := make([]int64, 0, n)
		for _, p := range parts {
			if p.events == nil {
				continue
			}
			for _, e := range p.events.Events {
				ids, types, kinds, rids, data = append(ids, e.ID), append(types, e.Type), append(kinds, string(e.Kind)), append(rids, e.ResourceID), append(data, string(e.Data))
				times = append(times, p.now)
			}
		}
		batch.Queue(`WITH h AS (UPDATE event_head SET seq = seq + $1 RETURNING seq)
			INSERT INTO events (seq, id, type, time, kind, resource_id, data)
			SELECT h.seq - $1 + e.ord, e.id, e.type, e.time, e.kind, e.rid, e.data
			FROM h, unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[])
				WITH ORDINALITY AS e(id, type, time, kind, rid, data, ord)`,
			int64(n), ids, types, times, kinds, rids, data)
		batch.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, s.schema)
	}
	tail := batch.Len()
	batch.Queue(`COMMIT`)
	br := p.SendBatch(ctx, batch)
	defer br.Close()
	for range tail {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("postgres: append events: %w", err)
		}
	}
	tag, err := br.Exec()
	if err != nil {
		return err
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("postgres: commit: %w", pgx.ErrTxCommitRollback) // the transaction had failed
	}
	return br.Close()
}
