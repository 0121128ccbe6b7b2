package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
	"github.com/scim-operator/scim-operator/scimserver/store/storetest"
)

// openTest opens a store in a fresh schema of the test server.
func openTest(t testing.TB, opts ...Option) *Store {
	t.Helper()
	url, schema := pgtest.Schema(t)
	s, err := Open(context.Background(), url, append([]Option{WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store suite shared with SQLite (package
// storetest) against PostgreSQL.
func TestConformance(t *testing.T) {
	pgtest.URL(t) // skip (or fail in CI) once, not in every subtest
	storetest.Run(t, storetest.Backend{
		Open: func(t testing.TB, now func() time.Time) store.Store {
			var opts []Option
			if now != nil {
				opts = append(opts, WithClock(now))
			}
			return openTest(t, opts...)
		},
		Count: func(t testing.TB, s store.Store, query string) int {
			var n int
			if err := s.(*Store).pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			return n
		},
	})
}

// TestReadsCarryGroups: a user read by id or looked up comes with its
// groups, as GroupsOf answers them, so the server skips that query; a user
// in no group has [] (known), and a raw read has Raw and no Doc.
func TestReadsCarryGroups(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, r := range []*store.Resource{
		{Kind: store.User, ID: "u1", Doc: map[string]any{"userName": "one"}},
		{Kind: store.User, ID: "u2", Doc: map[string]any{"userName": "two"}},
		{Kind: store.Group, ID: "g2", Doc: map[string]any{"displayName": "Second"}, Members: []store.Member{{Value: "u1"}}},
		{Kind: store.Group, ID: "g1", Doc: map[string]any{"displayName": "First"}, Members: []store.Member{{Value: "u1"}}},
	} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.GroupsOf(ctx, []string{"u1", "u2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(want["u1"]) != 2 || len(want["u2"]) != 0 {
		t.Fatalf("GroupsOf = %v", want)
	}
	lookup := func(id string) *store.Resource {
		name := map[string]string{"u1": "ONE", "u2": "Two"}[id]
		p, err := s.List(ctx, store.User, store.Query{Lookup: &store.Lookup{Attr: "userName", Value: store.Fold(name)}, Count: 1})
		if err != nil || len(p.Resources) != 1 {
			t.Fatalf("List %s: %v, %v", id, p, err)
		}
		return p.Resources[0]
	}
	reads := map[string]func(id string) *store.Resource{
		"Get": func(id string) *store.Resource {
			r, err := s.Get(ctx, store.User, id, false)
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		"GetRaw": func(id string) *store.Resource {
			r, err := s.GetRaw(ctx, store.User, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Doc != nil || !strings.Contains(string(r.Raw), `"userName"`) {
				t.Errorf("GetRaw(%s): Doc %v, Raw %s", id, r.Doc, r.Raw)
			}
			return r
		},
		"List userName eq": lookup,
	}
	for name, read := range reads {
		for _, id := range []string{"u1", "u2"} {
			got := read(id).Groups
			if got == nil {
				t.Errorf("%s(%s).Groups = nil (unknown), want %v", name, id, want[id])
				continue
			}
			if !reflect.DeepEqual(got, append([]store.GroupRef{}, want[id]...)) {
				t.Errorf("%s(%s).Groups = %v, want %v", name, id, got, want[id])
			}
		}
	}
}

// TestGroupCommitIsolatesFailures: writes that share a transaction (many
// at once) succeed or fail each on its own: a duplicate userName is a 409
// for that write only, the others commit, and the change log has exactly
// the committed writes' events, gap-free.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Every fourth write repeats the name of the one before it.
			name := fmt.Sprintf("user%d", i-boolInt(i%4 == 3))
			errs[i] = s.Create(ctx, user(fmt.Sprintf("id%d", i), name))
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		var se *scimerr.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &se) && se.Status == http.StatusConflict:
		default:
			t.Errorf("create %d: %v", i, err)
		}
	}
	if ok != n-n/4 {
		t.Errorf("%d creates succeeded, want %d", ok, n-n/4)
	}
	p, err := s.List(ctx, store.User, store.Query{Count: 1})
	if err != nil || p.Total != ok {
		t.Errorf("total %v (%v), want %d", p, err, ok)
	}
	evs, next, err := s.ReadEvents(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != ok || next != int64(ok) {
		t.Fatalf("%d events up to %d, want %d", len(evs), next, ok)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRenameWithMembersConflicts: a group PATCH that renames to a taken
// displayName and adds a member (the UPDATE travels with the member
// statements) is a 409 and changes nothing.
func TestRenameWithMembersConflicts(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, r := range []*store.Resource{
		user("u1", "one"),
		{Kind: store.Group, ID: "g1", Doc: map[string]any{"displayName": "First"}},
		{Kind: store.Group, ID: "g2", Doc: map[string]any{"displayName": "Second"}},
	} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Update(ctx, store.Group, "g2", func(cur *store.Resource) (map[string]any, []store.MemberOp, error) {
		return map[string]any{"displayName": "FIRST"}, []store.MemberOp{{Kind: store.MemberAdd, Members: []store.Member{{Value: "u1"}}}}, nil
	})
	var se *scimerr.Error
	if !errors.As(err, &se) || se.Status != http.StatusConflict {
		t.Fatalf("Update = %v, want a 409", err)
	}
	g, err := s.Get(ctx, store.Group, "g2", true)
	if err != nil {
		t.Fatal(err)
	}
	if g.Doc["displayName"] != "Second" || len(g.Members) != 0 || g.Version != 1 {
		t.Errorf("after the conflict: %v members %v version %d", g.Doc, g.Members, g.Version)
	}
}
