package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock: tests advance it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openTest opens a fresh store in t.TempDir() and closes it at cleanup.
func openTest(t testing.TB, opts ...Option) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scim.db")
	s, err := OpenSQLite(path, opts...)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func userRes(id, userName string) *Resource {
	return &Resource{Kind: User, ID: id, Doc: map[string]any{"userName": userName, "active": true}}
}

func groupRes(id, name string, members ...string) *Resource {
	r := &Resource{Kind: Group, ID: id, Doc: map[string]any{"displayName": name}}
	for _, m := range members {
		r.Members = append(r.Members, Member{Value: m})
	}
	return r
}

func mustCreate(t testing.TB, s Store, rs ...*Resource) {
	t.Helper()
	for _, r := range rs {
		if err := s.Create(context.Background(), r); err != nil {
			t.Fatalf("Create %s %s: %v", r.Kind, r.ID, err)
		}
	}
}

// memberIDs returns the ids of a group's members (in store order).
func memberIDs(t testing.TB, s Store, group string) []string {
	t.Helper()
	g, err := s.Get(context.Background(), Group, group, true)
	if err != nil {
		t.Fatalf("Get group %s: %v", group, err)
	}
	ids := []string{}
	for _, m := range g.Members {
		ids = append(ids, m.Value)
	}
	return ids
}

func ops(kind string, ids ...string) MemberOp {
	op := MemberOp{Kind: kind}
	for _, id := range ids {
		op.Members = append(op.Members, Member{Value: id})
	}
	return op
}

func uid(i int) string { return fmt.Sprintf("u%06d", i) }
