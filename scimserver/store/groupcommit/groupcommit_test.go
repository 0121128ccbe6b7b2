package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
)

var errClosed = errors.New("test: closed")

// fn is the jobs' work in these tests: the runner calls it for each job.
type fn func() error

// runner runs batches for a Queue[fn], recording their sizes. A batch
// whose first job is held waits for release before it runs.
type runner struct {
	sizes   []int
	ctxs    []context.Context        // each batch's first job's
	hold    map[string]chan struct{} // by the value of the job's ctx key
	started chan struct{}            // receives when a held batch starts
}

type nameKey struct{}

func (r *runner) run(batch []*Job[fn]) {
	r.sizes = append(r.sizes, len(batch))
	r.ctxs = append(r.ctxs, batch[0].Ctx)
	if name, _ := batch[0].Ctx.Value(nameKey{}).(string); r.hold[name] != nil {
		r.started <- struct{}{}
		<-r.hold[name]
	}
	for _, j := range batch {
		j.Finish(Protect(j.Fn))
	}
}

func named(name string) context.Context {
	return context.WithValue(context.Background(), nameKey{}, name)
}

func TestQueue(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		// run drives the queue q whose loop runs r.run with maxBatch 4,
		// inside a synctest bubble (synctest.Wait: every goroutine is
		// blocked).
		run func(t *testing.T, q *Queue[fn], r *runner)
	}{
		{"the job's error reaches its writer", func(t *testing.T, q *Queue[fn], r *runner) {
			if err := q.Submit(context.Background(), func() error { return boom }); !errors.Is(err, boom) {
				t.Errorf("Submit: %v, want %v", err, boom)
			}
			if err := q.Submit(context.Background(), func() error { return nil }); err != nil {
				t.Errorf("Submit: %v, want nil", err)
			}
		}},
		{"the job's ctx keeps its values but not its cancellation", func(t *testing.T, q *Queue[fn], r *runner) {
			ctx, cancel := context.WithCancel(named("v"))
			if err := q.Submit(ctx, func() error { return nil }); err != nil {
				t.Fatalf("Submit: %v", err)
			}
			cancel()
			got := r.ctxs[0]
			if got.Value(nameKey{}) != "v" || got.Err() != nil {
				t.Errorf("job ctx: value %v, err %v; want v, nil", got.Value(nameKey{}), got.Err())
			}
		}},
		{"a panic is raised again on its writer", func(t *testing.T, q *Queue[fn], r *runner) {
			defer func() {
				if p := recover(); p != "job bug" {
					t.Errorf("recovered %v, want the job's panic", p)
				}
			}()
			_ = q.Submit(context.Background(), func() error { panic("job bug") })
			t.Error("Submit returned after its job panicked")
		}},
		{"a context cancelled before the job is taken", func(t *testing.T, q *Queue[fn], r *runner) {
			// Hold the runner in a batch, so nothing takes the next job.
			r.hold["first"] = make(chan struct{})
			go q.Submit(named("first"), func() error { return nil })
			<-r.started
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			ran := false
			if err := q.Submit(ctx, func() error { ran = true; return nil }); !errors.Is(err, context.Canceled) {
				t.Errorf("Submit: %v, want context.Canceled", err)
			}
			close(r.hold["first"])
			synctest.Wait()
			if ran {
				t.Error("a job cancelled before it was taken ran")
			}
		}},
		{"waiting jobs are batched up to the max", func(t *testing.T, q *Queue[fn], r *runner) {
			r.hold["first"] = make(chan struct{})
			go q.Submit(named("first"), func() error { return nil })
			<-r.started
			// Six writers wait while the runner is held: the next
			// batches carry four (the max), then two.
			errs := make(chan error, 6)
			for range 6 {
				go func() { errs <- q.Submit(context.Background(), func() error { return nil }) }()
			}
			synctest.Wait()
			close(r.hold["first"])
			for range 6 {
				if err := <-errs; err != nil {
					t.Errorf("Submit: %v", err)
				}
			}
			if want := []int{1, 4, 2}; !slices.Equal(r.sizes, want) {
				t.Errorf("batch sizes %v, want %v", r.sizes, want)
			}
		}},
		{"a job is answered only after its whole batch ran", func(t *testing.T, q *Queue[fn], r *runner) {
			r.hold["first"] = make(chan struct{})
			done := make(chan error, 1)
			go func() { done <- q.Submit(named("first"), func() error { return nil }) }()
			<-r.started
			synctest.Wait()
			select {
			case err := <-done:
				t.Errorf("Submit returned (%v) while its batch ran", err)
			default:
			}
			close(r.hold["first"])
			if err := <-done; err != nil {
				t.Errorf("Submit: %v", err)
			}
		}},
		{"submit after close", func(t *testing.T, q *Queue[fn], r *runner) {
			q.Close()
			q.Close() // twice is fine
			ran := false
			if err := q.Submit(context.Background(), func() error { ran = true; return nil }); !errors.Is(err, errClosed) {
				t.Errorf("Submit after Close: %v, want %v", err, errClosed)
			}
			if ran {
				t.Error("a job submitted after Close ran")
			}
		}},
		{"close lets the running batch finish and fails the waiting jobs", func(t *testing.T, q *Queue[fn], r *runner) {
			r.hold["first"] = make(chan struct{})
			first := make(chan error, 1)
			go func() { first <- q.Submit(named("first"), func() error { return nil }) }()
			<-r.started
			waiting := make(chan error, 1)
			go func() { waiting <- q.Submit(context.Background(), func() error { return nil }) }()
			closed := make(chan struct{})
			go func() { q.Close(); close(closed) }()
			synctest.Wait()
			// The waiting writer sees quit closed; the runner is still held.
			if err := <-waiting; !errors.Is(err, errClosed) {
				t.Errorf("waiting Submit: %v, want %v", err, errClosed)
			}
			select {
			case <-closed:
				t.Error("Close returned while a batch ran")
			default:
			}
			close(r.hold["first"])
			<-closed
			if err := <-first; err != nil {
				t.Errorf("running Submit: %v, want nil", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q := New[fn](errClosed)
				r := &runner{hold: map[string]chan struct{}{}, started: make(chan struct{})}
				go q.Run(4, r.run)
				tc.run(t, q, r)
				q.Close()
			})
		})
	}
}

// Protect turns a panic into a Result and passes an error through.
func TestProtect(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		fn   func() error
		want Result
	}{
		{"nil", func() error { return nil }, Result{}},
		{"error", func() error { return boom }, Result{Err: boom}},
		{"panic", func() error { panic("bug") }, Result{Panic: "bug"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Protect(tc.fn)
			if got.Err != tc.want.Err || fmt.Sprint(got.Panic) != fmt.Sprint(tc.want.Panic) {
				t.Errorf("Protect: %+v, want %+v", got, tc.want)
			}
		})
	}
}
