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

// A lookup no index answers reads every resource of its kind, so it runs
// in a scan slot; indexed lookups never take one. Match runs while the
// List holds whatever it holds, so it sees the slot taken or free.
func TestUnindexedLookupTakesScanSlot(t *testing.T) {
	s, _ := openTest(t, WithScanLimit(1))
	ctx := context.Background()
	u := userRes("u1", "alice")
	u.Doc["displayName"] = "Alice"
	u.Doc["externalId"] = "a1"
	mustCreate(t, s, u, groupRes("g", "Staff", "u1"))
	for _, tc := range []struct {
		kind      Kind
		attr, val string
		slot      bool
	}{
		{User, "displayName", "ALICE", true}, // no index since migration 5
		{User, "userName", "Alice", false},
		{User, "externalId", "a1", false},
		{User, "id", "u1", false},
		{Group, "displayName", "staff", false},
	} {
		var taken []int
		q := Query{Lookup: &Lookup{tc.attr, tc.val}, Count: 10, Match: func(*Resource) bool {
			taken = append(taken, len(s.scans))
			return true
		}}
		p, err := s.List(ctx, tc.kind, q)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.kind, tc.attr, err)
		}
		if p.Total != 1 || len(taken) != 1 {
			t.Fatalf("%s %s eq %q: total %d, matched %d", tc.kind, tc.attr, tc.val, p.Total, len(taken))
		}
		if got := taken[0] == 1; got != tc.slot {
			t.Errorf("%s %s lookup ran in a scan slot: %v, want %v", tc.kind, tc.attr, got, tc.slot)
		}
	}
	if len(s.scans) != 0 {
		t.Errorf("%d scan slots still held", len(s.scans))
	}
}
