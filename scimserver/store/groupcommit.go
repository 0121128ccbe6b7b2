package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
)

// Group commit: concurrent writes share one transaction and one WAL
// commit. Each write runs in a savepoint of its own, so one that fails
// undoes only itself, and each is acknowledged only after the shared
// commit, so an acknowledged write is as durable as before (test/crash).
// The commit (WAL frame writes) was a third of every write's CPU; a batch
// of k writes pays it once.

// maxBatch bounds the writes one commit carries, so a waiting write's
// latency stays bounded under a flood.
const maxBatch = 64

// writeJob is one write transaction's work.
type writeJob struct {
	ctx  context.Context // never cancelled once the job runs (WithoutCancel)
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan jobResult
}

type jobResult struct {
	err   error
	panic any // re-raised on the caller's goroutine
}

// errClosed answers writes after Close.
var errClosed = errors.New("store: closed")

// write runs fn in a savepoint of a shared write transaction and returns
// once that transaction committed (nil) or fn's work was undone (fn's
// error, or the commit's). A write cancelled before it runs is not run;
// once running it completes, since its batch shares the transaction.
func (s *SQLite) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	j := &writeJob{ctx: context.WithoutCancel(ctx), fn: fn, done: make(chan jobResult, 1)}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.quit:
		return errClosed
	}
	r := <-j.done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

// commitLoop takes a write, adds whatever other writes are waiting at that
// moment and after one yield of the processor (it never waits on a timer:
// a lone write commits at once) and runs them as one transaction.
func (s *SQLite) commitLoop() {
	defer close(s.loopDone)
	for {
		var j *writeJob
		select {
		case j = <-s.jobs:
		case <-s.quit:
			return
		}
		batch := s.gather([]*writeJob{j})
		// Yield once before the batch starts: request goroutines that
		// are runnable reach write() and join it. Without this, a
		// batch held 1.7 writes on average at 16 concurrent clients;
		// with it 5.5, and the pages the writes share (the events and
		// resources tails, counts) are written once per batch. The
		// cost is one scheduling round of latency.
		if len(batch) < maxBatch {
			runtime.Gosched()
			batch = s.gather(batch)
		}
		s.runBatch(batch)
	}
}

// gather adds the writes waiting now to batch, up to maxBatch.
func (s *SQLite) gather(batch []*writeJob) []*writeJob {
	for len(batch) < maxBatch {
		select {
		case j := <-s.jobs:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

func (s *SQLite) runBatch(batch []*writeJob) {
	results := make([]jobResult, len(batch))
	finish := func() {
		for i, j := range batch {
			j.done <- results[i]
		}
	}
	failAll := func(err error) {
		for i := range results {
			if results[i].err == nil && results[i].panic == nil {
				results[i].err = err
			}
		}
		finish()
	}
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		failAll(err)
		return
	}
	// A lone write needs no savepoint: if it fails, the whole
	// transaction is rolled back. Sequential writers (Entra's member
	// adds) send lone writes, and the savepoint and its release were two
	// more statements for each.
	if len(batch) == 1 {
		results[0] = runJob(batch[0], tx)
		if results[0].err != nil || results[0].panic != nil {
			tx.Rollback()
			finish()
			return
		}
		if err := tx.Commit(); err != nil {
			failAll(err)
			return
		}
		finish()
		return
	}
	ok := 0
	for i, j := range batch {
		if _, err := s.in(tx, s.stmts.savepoint).ExecContext(ctx); err != nil {
			tx.Rollback()
			failAll(fmt.Errorf("store: savepoint: %w", err))
			return
		}
		results[i] = runJob(j, tx)
		if results[i].err == nil && results[i].panic == nil {
			if _, err := s.in(tx, s.stmts.release).ExecContext(ctx); err != nil {
				tx.Rollback()
				failAll(fmt.Errorf("store: release savepoint: %w", err))
				return
			}
			ok++
			continue
		}
		// Undo this write only; the savepoint stays open until released.
		_, err1 := s.in(tx, s.stmts.rollbackTo).ExecContext(ctx)
		_, err2 := s.in(tx, s.stmts.release).ExecContext(ctx)
		if err := errors.Join(err1, err2); err != nil {
			tx.Rollback()
			failAll(fmt.Errorf("store: roll back a failed write: %w", err))
			return
		}
	}
	if ok == 0 {
		tx.Rollback()
		finish()
		return
	}
	if err := tx.Commit(); err != nil {
		failAll(err)
		return
	}
	finish()
}

// txStmts caches the current batch transaction's statements. A
// tx.StmtContext allocates a statement bound to the transaction and
// registers it for closing at the commit; a PATCH called it five times,
// for 6 % of its allocations. A batch's writes share the transaction, so
// they share its statements. Only the commit loop's goroutine uses it.
type txStmts struct {
	tx *sql.Tx
	m  map[*sql.Stmt]*sql.Stmt
}

// in returns st bound to tx, which must be the running batch's
// transaction.
func (s *SQLite) in(tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	c := &s.txStmts
	if c.tx != tx {
		c.tx = tx
		clear(c.m)
	}
	if ts, ok := c.m[st]; ok {
		return ts
	}
	if c.m == nil {
		c.m = make(map[*sql.Stmt]*sql.Stmt)
	}
	ts := tx.Stmt(st)
	c.m[st] = ts
	return ts
}

// runJob runs one job, turning a panic into a result for its caller.
func runJob(j *writeJob, tx *sql.Tx) (r jobResult) {
	defer func() {
		if p := recover(); p != nil {
			r = jobResult{panic: p}
		}
	}()
	return jobResult{err: j.fn(j.ctx, tx)}
}
