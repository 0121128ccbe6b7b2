// Package groupcommit is the queue behind both stores' group commit:
// concurrent writers submit their work, one loop takes it in batches and
// hands each batch to the store, which runs it as one transaction and
// answers each writer once that transaction committed or its work was
// undone. How a batch runs (savepoints, tails, retries) stays the store's;
// this package only queues, batches and answers.
package groupcommit

import (
	"context"
	"runtime"
	"sync"
)

// Result is one job's outcome, given to its writer.
type Result struct {
	Err   error
	Panic any // re-raised on the writer's goroutine
}

// Job is one writer's work, F being the store's kind of write function.
type Job[F any] struct {
	Ctx  context.Context // the writer's values; never cancelled (WithoutCancel)
	Fn   F
	done chan Result
}

// NewJob returns a job for fn with ctx's values but not its cancellation.
// Submit makes its own; a store's tests use it to run a batch directly.
func NewJob[F any](ctx context.Context, fn F) *Job[F] {
	return &Job[F]{Ctx: context.WithoutCancel(ctx), Fn: fn, done: make(chan Result, 1)}
}

// Finish answers the job's writer. The batch runner calls it exactly once
// for every job of a batch.
func (j *Job[F]) Finish(r Result) { j.done <- r }

// Wait returns the result Finish gave.
func (j *Job[F]) Wait() Result { return <-j.done }

// Queue hands submitted jobs to the loop Run runs.
type Queue[F any] struct {
	jobs     chan *Job[F]
	quit     chan struct{}
	loopDone chan struct{}
	closing  sync.Once
	closed   error
}

// New returns a queue whose Submit answers closed once Close was called.
func New[F any](closed error) *Queue[F] {
	return &Queue[F]{jobs: make(chan *Job[F]), quit: make(chan struct{}), loopDone: make(chan struct{}), closed: closed}
}

// Submit queues fn and returns once the batch runner finished its job:
// Result.Err, or Result.Panic raised again here. A job whose ctx ends
// before the loop took it is not run (ctx.Err()); once taken it runs to
// the end with ctx's values but not its cancellation, since its batch
// shares one transaction with other writers'.
func (q *Queue[F]) Submit(ctx context.Context, fn F) error {
	j := NewJob(ctx, fn)
	select {
	case q.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-q.quit:
		return q.closed
	}
	r := j.Wait()
	if r.Panic != nil {
		panic(r.Panic)
	}
	return r.Err
}

// Run is the loop: it takes a job, adds whatever other jobs are waiting
// at that moment and after one yield of the processor, up to maxBatch,
// and calls runBatch with them; while runBatch runs, the next jobs queue
// up. It never waits on a timer: a lone job runs at once. It returns
// after Close. runBatch must not keep the slice once it returned: Run
// reuses it for the next batch.
func (q *Queue[F]) Run(maxBatch int, runBatch func([]*Job[F])) {
	defer close(q.loopDone)
	// One slice for every batch: runBatch is a function value, so the
	// compiler cannot see that the batch does not outlive it, and a new
	// slice per batch was one more allocation per write for lone writes.
	buf := make([]*Job[F], 0, maxBatch)
	for {
		var j *Job[F]
		select {
		case j = <-q.jobs:
		case <-q.quit:
			return
		}
		batch := q.gather(append(buf[:0], j), maxBatch)
		// Yield once before the batch starts: writer goroutines that
		// are runnable reach Submit and join it. Without this, a SQLite
		// batch held 1.7 writes on average at 16 concurrent clients;
		// with it 5.5, and what the writes share (the events and
		// resources tails, counts, the commit) is written once per
		// batch. The cost is one scheduling round of latency.
		if len(batch) < maxBatch {
			runtime.Gosched()
			batch = q.gather(batch, maxBatch)
		}
		runBatch(batch)
		clear(batch) // the finished jobs are not kept alive until the next batch
	}
}

// gather adds the jobs waiting now to batch, up to maxBatch.
func (q *Queue[F]) gather(batch []*Job[F], maxBatch int) []*Job[F] {
	for len(batch) < maxBatch {
		select {
		case j := <-q.jobs:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// Close makes later (and still waiting) Submits answer the closed error
// and returns once Run returned: a batch running finishes first. Run must
// have been started. Close may be called more than once.
func (q *Queue[F]) Close() {
	q.closing.Do(func() { close(q.quit) })
	<-q.loopDone
}

// Protect calls fn and turns its panic into a Result, so that the panic
// reaches the writer whose job panicked rather than the loop.
func Protect(fn func() error) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = Result{Panic: p}
		}
	}()
	return Result{Err: fn()}
}
