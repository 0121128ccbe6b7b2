package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	. "github.com/scim-operator/scim-operator/scimserver/store"
)

// testMemberEventsNetEffect: the store emits one event per member whose
// membership a transaction actually changed, in the order first touched.
func testMemberEventsNetEffect(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	mustCreate(t, s, userRes("a", "a"), userRes("b", "b"), userRes("c", "c"), groupRes("g", "G", "a", "b"))
	before := len(allEvents(t, s))
	update := func(ops ...MemberOp) string {
		t.Helper()
		if _, err := s.Update(ctx, Group, "g", func(*Resource) (map[string]any, []MemberOp, error) { return nil, ops, nil }); err != nil {
			t.Fatal(err)
		}
		evs := allEvents(t, s)
		out := summary(evs[before:])
		before = len(evs)
		return out
	}
	tests := []struct {
		name string
		ops  []MemberOp
		want string
	}{
		{"add existing", []MemberOp{ops(MemberAdd, "a")}, ""},
		{"remove non-member", []MemberOp{ops(MemberRemove, "c")}, ""},
		{"add then remove", []MemberOp{ops(MemberAdd, "c"), ops(MemberRemove, "c")}, ""},
		{"remove then add back", []MemberOp{ops(MemberRemove, "a"), ops(MemberAdd, "a")}, ""},
		{"clear then add some back", []MemberOp{{Kind: MemberClear}, ops(MemberAdd, "b", "c")},
			"group.member_removed g a, group.member_added g c"},
		{"clear", []MemberOp{{Kind: MemberClear}}, "group.member_removed g b, group.member_removed g c"},
	}
	for _, tc := range tests {
		if got := update(tc.ops...); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// testDeleteUserEvents: a deleted user leaves each group first, then is
// deleted; the events carry the resources as they were.
func testDeleteUserEvents(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	u := userRes("u", "u@x")
	u.Doc["password"] = "pw-never-logged"
	mustCreate(t, s, u, groupRes("g1", "G1", "u"), groupRes("g2", "G2", "u"), groupRes("g3", "G3"))
	n := len(allEvents(t, s))
	if err := s.Delete(ctx, User, "u"); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, s)[n:]
	if got := summary(evs); got != "group.member_removed g1 u, group.member_removed g2 u, user.deleted u" {
		t.Fatalf("events: %s", got)
	}
	if evs[2].Resource.Doc["userName"] != "u@x" || evs[2].Resource.Version != 1 {
		t.Fatalf("deleted user as it was: %+v", evs[2].Resource)
	}
	if evs[0].Resource.Doc["displayName"] != "G1" {
		t.Fatalf("group of a member event: %+v", evs[0].Resource)
	}
	if b.count(t, s, `SELECT COUNT(*) FROM events WHERE data LIKE '%pw-never-logged%'`) != 0 {
		t.Fatal("the password reached the events table")
	}
	if err := s.Delete(ctx, User, "u"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if got := len(allEvents(t, s)); got != n+3 {
		t.Fatalf("a failed delete appended events: %d", got-n-3)
	}
}

// testPruneRemovesOnlyAPrefix: pruning cuts a prefix of the log, never
// the newest event, even with a clock that went backwards.
func testPruneRemovesOnlyAPrefix(t *testing.T, b Backend) {
	tests := []struct {
		name   string
		steps  []time.Duration // clock moves before each create
		cutAgo time.Duration   // prune events older than now - cutAgo
		left   string
	}{
		{"monotonic", []time.Duration{0, time.Hour, time.Hour, time.Hour}, 90 * time.Minute, "u3, u4"},
		{"all old: the newest stays", []time.Duration{0, time.Hour, time.Hour}, -time.Hour, "u3"},
		{"none old", []time.Duration{0, time.Minute}, 2 * time.Hour, "u1, u2"},
		// u3's time is before u2's: the binary search still cuts a prefix.
		{"clock stepped back", []time.Duration{0, time.Hour, -2 * time.Hour, 3 * time.Hour}, 90 * time.Minute, "u2, u3, u4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			s := b.open(t, c.now)
			ctx := context.Background()
			for i, d := range tc.steps {
				c.advance(d)
				mustCreate(t, s, userRes(fmt.Sprint("u", i+1), fmt.Sprint(i+1)))
			}
			if _, err := s.PruneEvents(ctx, c.now().Add(-tc.cutAgo)); err != nil {
				t.Fatal(err)
			}
			evs := allEvents(t, s)
			var ids []string
			for i, e := range evs {
				ids = append(ids, e.Resource.ID)
				if i > 0 && e.Seq != evs[i-1].Seq+1 {
					t.Fatalf("hole after pruning: %s", summary(evs))
				}
			}
			if got := strings.Join(ids, ", "); got != tc.left {
				t.Fatalf("left %s, want %s", got, tc.left)
			}
			if h, err := s.EventHead(ctx); err != nil || h != int64(len(tc.steps)) {
				t.Fatalf("head %d %v", h, err)
			}
			if first := evs[0].Seq; first > 2 { // after=first-2 lost event first-1
				if _, _, err := s.ReadEvents(ctx, first-2, 10); !errors.Is(err, eventlog.ErrExpired) {
					t.Fatalf("after=%d: %v", first-2, err)
				}
			}
			// The next event continues the sequence.
			mustCreate(t, s, userRes("next", "next"))
			if h, _ := s.EventHead(ctx); h != int64(len(tc.steps))+1 {
				t.Fatalf("head after a new write: %d", h)
			}
		})
	}
}

// testPruneInBatches prunes more than one batch.
func testPruneInBatches(t *testing.T, b Backend) {
	c := newClock()
	s := b.open(t, c.now)
	ctx := context.Background()
	for i := range PruneBatch*2 + 10 {
		mustCreate(t, s, userRes(fmt.Sprint("u", i), fmt.Sprint(i)))
	}
	c.advance(time.Hour)
	mustCreate(t, s, userRes("last", "last"))
	n, err := s.PruneEvents(ctx, c.now().Add(-time.Minute))
	if err != nil || n != PruneBatch*2+10 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if evs := allEvents(t, s); len(evs) != 1 || evs[0].Resource.ID != "last" {
		t.Fatalf("left %s", summary(evs))
	}
}

// testWaitEventsWokenByCommit: a waiter registered before a write returns
// once the write commits; a failed write wakes nobody with an event.
func testWaitEventsWokenByCommit(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(ctx, 0) }()
	w, ok := s.(interface{ EventWaiters() int })
	if !ok {
		t.Fatalf("%T has no EventWaiters", s)
	}
	for w.EventWaiters() == 0 {
		runtime.Gosched()
	}
	mustCreate(t, s, userRes("u", "u"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.EventWaiters() != 0 {
		t.Fatalf("%d waiters left", w.EventWaiters())
	}
}
