package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

const entURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func decodeDoc(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDiffDocs(t *testing.T) {
	tests := []struct {
		name, old, cur string
		want           string // path=previous; ...
	}{
		{"same", `{"userName":"a","active":true}`, `{"active":true,"userName":"a"}`, ``},
		{"top-level changed", `{"displayName":"A"}`, `{"displayName":"B"}`, `displayName="A"`},
		{"added has no previous", `{}`, `{"title":"CEO"}`, `title=`},
		{"removed", `{"title":"CEO"}`, `{}`, `title="CEO"`},
		{"nested one level", `{"name":{"givenName":"A","familyName":"F"}}`, `{"name":{"givenName":"B","familyName":"F"}}`, `name.givenName="A"`},
		{"nested added", `{}`, `{"name":{"givenName":"B"}}`, `name.givenName=`},
		{"complex replaced by a scalar", `{"name":{"givenName":"A"}}`, `{"name":"x"}`, `name={"givenName":"A"}`},
		{"extension URN", `{"` + entURN + `":{"department":"S","manager":{"value":"m"}}}`,
			`{"` + entURN + `":{"department":"M"}}`,
			entURN + `:department="S"; ` + entURN + `:manager={"value":"m"}`},
		{"multi-valued as a whole", `{"emails":[{"value":"a"}]}`, `{"emails":[{"value":"a"},{"value":"b"}]}`, `emails=[{"value":"a"}]`},
		{"password: path only", `{"password":"old"}`, `{"password":"new"}`, `password=`},
		{"sorted paths", `{"b":1,"a":1}`, `{"b":2,"a":2}`, `a=1; b=1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := diffDocs(decodeDoc(t, tc.old), decodeDoc(t, tc.cur))
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, c := range got {
				parts = append(parts, c.Path+"="+string(c.Previous))
			}
			if s := strings.Join(parts, "; "); s != tc.want {
				t.Fatalf("got  %s\nwant %s", s, tc.want)
			}
		})
	}
}

// A document read back holds json.Number; one a PATCH built may hold
// float64 for the same value: no change.
func TestDiffDocsNumberTypes(t *testing.T) {
	got, err := diffDocs(decodeDoc(t, `{"n":1,"m":{"x":2}}`), map[string]any{"n": float64(1), "m": map[string]any{"x": 2}})
	if err != nil || len(got) != 0 {
		t.Fatalf("%v %v", got, err)
	}
}

func TestUserUpdateType(t *testing.T) {
	tests := []struct{ old, cur, want string }{
		{`{"active":true}`, `{"active":false}`, eventlog.UserDeactivated},
		{`{}`, `{"active":false}`, eventlog.UserDeactivated},
		{`{"active":"True"}`, `{"active":"False"}`, eventlog.UserDeactivated},
		{`{"active":false}`, `{"active":true}`, eventlog.UserReactivated},
		{`{"active":false}`, `{}`, eventlog.UserReactivated},
		{`{"active":true}`, `{"active":true,"title":"x"}`, eventlog.UserUpdated},
		{`{"active":false}`, `{"active":false,"title":"x"}`, eventlog.UserUpdated},
	}
	for _, tc := range tests {
		if got := userUpdateType(decodeDoc(t, tc.old), decodeDoc(t, tc.cur)); got != tc.want {
			t.Errorf("%s -> %s: %s, want %s", tc.old, tc.cur, got, tc.want)
		}
	}
}

// allEvents reads the whole log.
func allEvents(t testing.TB, s *SQLite) []Event {
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

// TestMemberEventsNetEffect: the store emits one event per member whose
// membership a transaction actually changed, in the order first touched.
func TestMemberEventsNetEffect(t *testing.T) {
	s, _ := openTest(t)
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

// TestDeleteUserEvents: a deleted user leaves each group first, then is
// deleted; the events carry the resources as they were.
func TestDeleteUserEvents(t *testing.T) {
	s, _ := openTest(t)
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
	var raw string
	if err := s.w.QueryRow(`SELECT group_concat(data) FROM events`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "pw-never-logged") {
		t.Fatal("the password reached the events table")
	}
	if err := s.Delete(ctx, User, "u"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if got := len(allEvents(t, s)); got != n+3 {
		t.Fatalf("a failed delete appended events: %d", got-n-3)
	}
}

// TestPruneRemovesOnlyAPrefix: pruning cuts a prefix of the log, never
// the newest event, even with a clock that went backwards.
func TestPruneRemovesOnlyAPrefix(t *testing.T) {
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
			s, _ := openTest(t, WithClock(c.now))
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

// TestPruneInBatches prunes more than one batch.
func TestPruneInBatches(t *testing.T) {
	c := newClock()
	s, _ := openTest(t, WithClock(c.now))
	ctx := context.Background()
	for i := range pruneBatch*2 + 10 {
		mustCreate(t, s, userRes(fmt.Sprint("u", i), fmt.Sprint(i)))
	}
	c.advance(time.Hour)
	mustCreate(t, s, userRes("last", "last"))
	n, err := s.PruneEvents(ctx, c.now().Add(-time.Minute))
	if err != nil || n != pruneBatch*2+10 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if evs := allEvents(t, s); len(evs) != 1 || evs[0].Resource.ID != "last" {
		t.Fatalf("left %s", summary(evs))
	}
}

// TestWaitEventsWokenByCommit: a waiter registered before a write returns
// once the write commits; a failed write wakes nobody with an event.
func TestWaitEventsWokenByCommit(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(ctx, 0) }()
	for s.EventWaiters() == 0 {
		runtime.Gosched()
	}
	mustCreate(t, s, userRes("u", "u"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.EventWaiters() != 0 {
		t.Fatalf("%d waiters left", s.EventWaiters())
	}
}

func TestWithoutEventLog(t *testing.T) {
	s, _ := openTest(t, WithoutEventLog())
	mustCreate(t, s, userRes("u", "u"), groupRes("g", "G", "u"))
	if err := s.Delete(context.Background(), User, "u"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.w.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d events, %v", n, err)
	}
	if _, _, err := s.ReadEvents(context.Background(), 0, 1); !errors.Is(err, ErrNoEventLog) {
		t.Fatalf("ReadEvents: %v", err)
	}
}

// A database at schema 3 (events with AUTOINCREMENT and a time index) keeps
// its events through migration 4, and cursors continue.
func TestMigrationKeepsEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scim.db")
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = saved[:3]
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, userRes("u1", "1"), groupRes("g", "G", "u1"))
	s.Close()

	migrations = saved
	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, userRes("u2", "2"))
	if got := summary(allEvents(t, s)); got != "user.created u1, group.created g, group.member_added g u1, user.created u2" {
		t.Fatalf("events after migration: %s", got)
	}
	if h, err := s.EventHead(context.Background()); err != nil || h != 4 {
		t.Fatalf("head %d %v", h, err)
	}
	var n int
	if err := s.w.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'events_time'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("events_time index still there: %d %v", n, err)
	}
}
