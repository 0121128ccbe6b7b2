package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store/groupcommit"
)

// A batch of one write runs without a savepoint: a write that fails
// after writing, or panics, still leaves nothing behind.
func TestRunBatchLoneWrite(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		fail      error
		panics    bool
		wantSaved bool
	}{
		{"succeeds", nil, false, true},
		{"fails after writing", boom, false, false},
		{"panics after writing", nil, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTest(t)
			ctx := context.Background()
			j := groupcommit.NewJob(ctx, func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.StmtContext(ctx, s.stmts.insert).ExecContext(ctx, string(User), "u1", `{}`, 1, 1, "a", nil, nil, nil); err != nil {
					return err
				}
				if tc.panics {
					panic("mutate bug")
				}
				return tc.fail
			})
			s.runBatch([]*groupcommit.Job[writeFunc]{j})
			res := j.Wait()
			if !errors.Is(res.Err, tc.fail) || (res.Panic != nil) != tc.panics {
				t.Errorf("result %+v, want err %v, panic %v", res, tc.fail, tc.panics)
			}
			_, err := s.GetRaw(ctx, User, "u1")
			if saved := err == nil; saved != tc.wantSaved {
				t.Errorf("stored: %v, want %v (%v)", saved, tc.wantSaved, err)
			}
			// The connection is usable afterwards: no transaction left open.
			if err := s.Create(ctx, &Resource{Kind: User, ID: "u2", Doc: map[string]any{"userName": "b"}}); err != nil {
				t.Errorf("next write: %v", err)
			}
		})
	}
}

// One batch: each write succeeds or fails alone, a panic reaches its own
// caller, and only the successful writes are committed.
func TestRunBatchIsolatesWrites(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	insert := func(id, userName string) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.StmtContext(ctx, s.stmts.insert).ExecContext(ctx, string(User), id, `{}`, 1, 1, userName, nil, nil, nil)
			return err
		}
	}
	boom := errors.New("boom")
	fns := []writeFunc{
		insert("u1", "a"),
		insert("u2", "a"), // unique userName: fails
		func(ctx context.Context, tx *sql.Tx) error {
			if err := insert("u3", "c")(ctx, tx); err != nil {
				return err
			}
			return boom // after writing: must be undone
		},
		func(ctx context.Context, tx *sql.Tx) error { panic("mutate bug") },
		insert("u4", "d"),
	}
	var batch []*groupcommit.Job[writeFunc]
	for _, fn := range fns {
		batch = append(batch, groupcommit.NewJob(ctx, fn))
	}
	s.runBatch(batch)
	var res []groupcommit.Result
	for _, j := range batch {
		res = append(res, j.Wait())
	}
	if res[0].Err != nil || res[4].Err != nil {
		t.Errorf("successful writes: %v, %v", res[0].Err, res[4].Err)
	}
	if res[1].Err == nil || !errors.Is(res[2].Err, boom) || res[3].Panic != "mutate bug" {
		t.Errorf("failed writes: %v, %v, %v", res[1].Err, res[2].Err, res[3].Panic)
	}
	for id, want := range map[string]bool{"u1": true, "u2": false, "u3": false, "u4": true} {
		_, err := s.GetRaw(ctx, User, id)
		if got := err == nil; got != want {
			t.Errorf("%s stored: %v, want %v (%v)", id, got, want, err)
		}
	}
}

// Concurrent writes, some conflicting, through the public API: each
// caller gets its own outcome and exactly the acknowledged ones are stored,
// however the writes were batched.
func TestConcurrentWritesShareCommits(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Pairs share a userName: one of each pair must get a 409.
			errs[i] = s.Create(ctx, userRes(fmt.Sprintf("u%02d", i), fmt.Sprintf("name%02d", i/2)))
		})
	}
	wg.Wait()
	for i := 0; i < n; i += 2 {
		a, b := errs[i], errs[i+1]
		if (a == nil) == (b == nil) {
			t.Errorf("pair %d: %v, %v: want exactly one success", i/2, a, b)
		}
		for k, err := range []error{a, b} {
			id := fmt.Sprintf("u%02d", i+k)
			if err != nil {
				if e, ok := scimerr.As(err); !ok || e.Status != 409 {
					t.Errorf("%s: %v, want a 409", id, err)
				}
			}
			_, gerr := s.Get(ctx, User, id, false)
			if (gerr == nil) != (err == nil) {
				t.Errorf("%s: acknowledged %v, stored %v", id, err == nil, gerr == nil)
			}
		}
	}
}

// A write after Close fails instead of waiting forever.
func TestWriteAfterClose(t *testing.T) {
	s, _ := openTest(t)
	s.Close()
	if err := s.Create(context.Background(), userRes("u1", "a")); !errors.Is(err, errClosed) {
		t.Fatalf("Create after Close: %v", err)
	}
}
