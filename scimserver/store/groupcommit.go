package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scim-operator/scim-operator/scimserver/store/groupcommit"
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

// writeFunc is one write transaction's work.
type writeFunc = func(ctx context.Context, tx *sql.Tx) error

// errClosed answers writes after Close.
var errClosed = errors.New("store: closed")

func (s *SQLite) runBatch(batch []*groupcommit.Job[writeFunc]) {
	results := make([]groupcommit.Result, len(batch))
	finish := func() {
		for i, j := range batch {
			j.Finish(results[i])
		}
	}
	failAll := func(err error) {
		for i := range results {
			if results[i].Err == nil && results[i].Panic == nil {
				results[i].Err = err
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
	ok := 0
	if len(batch) == 1 {
		if results[0] = runJob(batch[0], tx); results[0].Err == nil && results[0].Panic == nil {
			ok = 1
		}
	} else if ok, err = s.runSavepoints(ctx, tx, batch, results); err != nil {
		tx.Rollback()
		failAll(err)
		return
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

// runSavepoints runs each write of batch in a savepoint of its own, so
// that one that fails undoes only itself, and returns how many succeeded.
// An error means the transaction itself failed: nothing of it may commit.
func (s *SQLite) runSavepoints(ctx context.Context, tx *sql.Tx, batch []*groupcommit.Job[writeFunc], results []groupcommit.Result) (ok int, err error) {
	for i, j := range batch {
		if _, err := s.in(tx, s.stmts.savepoint).ExecContext(ctx); err != nil {
			return 0, fmt.Errorf("store: savepoint: %w", err)
		}
		results[i] = runJob(j, tx)
		if results[i].Err == nil && results[i].Panic == nil {
			if _, err := s.in(tx, s.stmts.release).ExecContext(ctx); err != nil {
				return 0, fmt.Errorf("store: release savepoint: %w", err)
			}
			ok++
			continue
		}
		// Undo this write only; the savepoint stays open until released.
		_, err1 := s.in(tx, s.stmts.rollbackTo).ExecContext(ctx)
		_, err2 := s.in(tx, s.stmts.release).ExecContext(ctx)
		if err := errors.Join(err1, err2); err != nil {
			return 0, fmt.Errorf("store: roll back a failed write: %w", err)
		}
	}
	return ok, nil
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
func runJob(j *groupcommit.Job[writeFunc], tx *sql.Tx) groupcommit.Result {
	return groupcommit.Protect(func() error { return j.Fn(j.Ctx, tx) })
}
