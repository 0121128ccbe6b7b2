package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func ids(p *Page) []string {
	out := []string{}
	for _, r := range p.Resources {
		out = append(out, r.ID)
	}
	return out
}

// Full scans take a slot of a bounded pool; indexed lookups never wait for
// one, so a burst of unindexed filters cannot starve Entra's match queries.
func TestScanLimit(t *testing.T) {
	s, _ := openTest(t, WithScanLimit(1))
	ctx := context.Background()
	mustCreate(t, s, userRes("u1", "alice"), userRes("u2", "bob"))

	inScan, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		first := true
		_, err := s.List(ctx, User, Query{Match: func(*Resource) bool {
			if first {
				first = false
				close(inScan)
				<-unblock
			}
			return true
		}, Count: 10})
		done <- err
	}()
	<-inScan // the only slot is taken

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	order := &Order{Key: func(r *Resource) any { return r.ID }, Compare: func(a, b any) int { return strings.Compare(a.(string), b.(string)) }}
	for name, q := range map[string]Query{
		"filter": {Match: func(*Resource) bool { return true }, Count: 10},
		"sort":   {Order: order, Count: 10},
	} {
		if _, err := s.List(cancelled, User, q); !errors.Is(err, context.Canceled) {
			t.Errorf("%s scan while the slot is taken: err %v, want context.Canceled", name, err)
		}
	}
	for name, q := range map[string]Query{
		"lookup":          {Lookup: &Lookup{"userName", "bob"}, Match: func(*Resource) bool { return true }, Count: 10},
		"unfiltered page": {Count: 10},
		"sort, totals":    {Order: order, Count: 0},
	} {
		p, err := s.List(ctx, User, q)
		if err != nil {
			t.Fatalf("%s while a scan runs: %v", name, err)
		}
		if p.Total == 0 {
			t.Errorf("%s: total 0", name)
		}
	}
	close(unblock)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, User, Query{Order: order, Count: 10}); err != nil {
		t.Errorf("scan after the slot was released: %v", err)
	}
}
