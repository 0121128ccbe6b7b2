// Package storetest is the conformance suite of store.Store: the same
// tests run against every backend (SQLite in package store, PostgreSQL in
// package store/postgres), so the two cannot drift in anything the HTTP
// layer observes. A backend's own tests (pragmas, query plans, scan
// limits, migrations, outages) stay beside it.
//
// Where the backends must differ, the test says so with Backend fields;
// today none of the tests here needs to.
package storetest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	//nolint:revive // the suite reads as the store's own tests, from which it was moved
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	. "github.com/scim-operator/scim-operator/scimserver/store"
)

// PruneBatch is the most events one pruning transaction deletes, in every
// backend (TestPruneInBatches prunes more than two batches).
const PruneBatch = 500

// Backend opens stores of one implementation.
type Backend struct {
	// Open returns a fresh, empty store that uses now for created and
	// lastModified (time.Now when nil), closed when the test ends.
	Open func(t testing.TB, now func() time.Time) Store
	// Count runs a SELECT COUNT(*) query on the store's database (tests
	// of what the HTTP layer cannot see: member rows, the events table).
	// The query is written in the SQL both SQLite and PostgreSQL accept.
	Count func(t testing.TB, s Store, query string) int
}

func (b Backend) open(t testing.TB, now func() time.Time) Store {
	t.Helper()
	return b.Open(t, now)
}

func (b Backend) count(t testing.TB, s Store, query string) int {
	t.Helper()
	return b.Count(t, s, query)
}

// Run runs the whole suite against b.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"Update", testUpdate},
		{"UpdateMutateErrorWritesNothing", testUpdateMutateErrorWritesNothing},
		{"UpdateKeepsIndexes", testUpdateKeepsIndexes},
		{"Uniqueness", testUniqueness},
		{"Delete", testDelete},
		{"UpdateConflict", testUpdateConflict},
		{"MemberOps", testMemberOps},
		{"MembersMustBeUsers", testMembersMustBeUsers},
		{"GroupsOf", testGroupsOf},
		{"ConcurrentMemberUpdates", testConcurrentMemberUpdates},
		{"List", testList},
		{"ListMembers", testListMembers},
		{"ListTotalsFollowWrites", testListTotalsFollowWrites},
		{"MemberEventsNetEffect", testMemberEventsNetEffect},
		{"DeleteUserEvents", testDeleteUserEvents},
		{"PruneRemovesOnlyAPrefix", testPruneRemovesOnlyAPrefix},
		{"PruneInBatches", testPruneInBatches},
		{"WaitEventsWokenByCommit", testWaitEventsWokenByCommit},
		{"DeliveryLease", testDeliveryLease},
		{"DeliveryLeaseRace", testDeliveryLeaseRace},
		{"DeliveryStatus", testDeliveryStatus},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

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

func ids(p *Page) []string {
	out := []string{}
	for _, r := range p.Resources {
		out = append(out, r.ID)
	}
	return out
}

func isConflict(err error) bool {
	e, ok := scimerr.As(err)
	return ok && e.Status == http.StatusConflict && e.ScimType == scimerr.Uniqueness
}

func allEvents(t testing.TB, s Store) []Event {
	t.Helper()
	evs, _, err := s.ReadEvents(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func summary(evs []Event) string {
	var parts []string
	for _, e := range evs {
		p := e.Type + " " + e.Resource.ID
		if e.Member != nil {
			p += " " + e.Member.Value
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}
