package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dbtx is what a write does in the shared transaction: a pipe.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	// Later queues a statement whose result nobody reads, to go out with
	// the next one; its error is the next statement's error.
	Later(sql string, args ...any)
}

// pipe is a connection whose transaction-control statements (BEGIN,
// SAVEPOINT, RELEASE), and writes whose result nobody reads, wait in
// pending and go out in the same round trip as the next statement: a round
// trip costs more CPU, on both sides, than these statements do. Their
// results are read first; an error of theirs is the statement's error.
type pipe struct {
	conn    *pgx.Conn
	pending []pending
}

type pending struct {
	sql  string
	args []any
}

var _ dbtx = (*pipe)(nil)

// Later queues a statement to go out with the next one.
func (p *pipe) Later(sql string, args ...any) { p.pending = append(p.pending, pending{sql, args}) }

// send sends the pending statements, then b's, as one batch, and reads
// the pending statements' results.
func (p *pipe) send(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	if len(p.pending) == 0 {
		return p.conn.SendBatch(ctx, b), nil
	}
	nb := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(p.pending)+len(b.QueuedQueries))}
	for _, q := range p.pending {
		nb.Queue(q.sql, q.args...)
	}
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	n := len(p.pending)
	p.pending = p.pending[:0]
	br := p.conn.SendBatch(ctx, nb)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	return br, nil
}

func (p *pipe) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(p.pending) == 0 {
		return p.conn.Exec(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br, err := p.send(ctx, b)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (p *pipe) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if len(p.pending) == 0 {
		return p.conn.QueryRow(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br, err := p.send(ctx, b)
	if err != nil {
		return errRow{err}
	}
	return batchRow{br: br, row: br.QueryRow()}
}

// Query sends the pending statements on their own first: a rare path
// (clearing members, deleting a user in groups), not worth a rows wrapper.
func (p *pipe) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if len(p.pending) > 0 {
		br, err := p.send(ctx, &pgx.Batch{})
		if err != nil {
			return nil, err
		}
		if err := br.Close(); err != nil {
			return nil, err
		}
	}
	return p.conn.Query(ctx, sql, args...)
}

func (p *pipe) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	br, err := p.send(ctx, b)
	if err != nil {
		return errBatch{err}
	}
	return br
}

// batchRow is the row of a one-query batch; Scan closes the batch.
type batchRow struct {
	br  pgx.BatchResults
	row pgx.Row
}

func (r batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// errBatch answers every result of a batch whose pending statements failed.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
