package store

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

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
