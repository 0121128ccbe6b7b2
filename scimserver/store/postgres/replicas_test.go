package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
	"github.com/scim-operator/scim-operator/scimserver/store/storetest"
)

func openAt(t testing.TB, url, schema string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, WithSchema(schema))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func user(id, userName string) *store.Resource {
	return &store.Resource{Kind: store.User, ID: id, Doc: map[string]any{"userName": userName}}
}

// TestReplicas: two stores (two server replicas) on one schema under an
// Entra-shaped concurrent load: creates racing on the same userName in
// different case, member adds to one group from both, updates racing on
// a version (If-Match). The database decides: one create wins, no member
// is lost, one of two conditional updates gets 412, and the change log
// stays gap-free in commit order.
func TestReplicas(t *testing.T) {
	url, schema := pgtest.Schema(t)
	replicas := []*Store{openAt(t, url, schema), openAt(t, url, schema)}
	ctx := context.Background()
	const n = 60

	// Each user is created by both replicas at once, with differently
	// cased userNames and different ids: exactly one create succeeds.
	var wg sync.WaitGroup
	created := make([]string, n)
	errs := make(chan error, 2*n)
	for i := range n {
		for r, s := range replicas {
			wg.Go(func() {
				name := fmt.Sprintf("user%d@contoso.com", i)
				if r == 1 {
					name = strings.ToUpper(name)
				}
				id := fmt.Sprintf("u%d-%d", i, r)
				switch err := s.Create(ctx, user(id, name)); {
				case err == nil:
					created[i] = id // at most one writer per i
				case !isStatus(err, http.StatusConflict):
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("racing create: %v", err)
	}
	if p, err := replicas[0].List(ctx, store.User, store.Query{}); err != nil || p.Total != n {
		t.Fatalf("users: %v %v, want %d", p, err, n)
	}
	for i, id := range created {
		if id == "" {
			t.Fatalf("user %d: neither create succeeded", i)
		}
	}

	// Member adds to one group from both replicas.
	if err := replicas[0].Create(ctx, &store.Resource{Kind: store.Group, ID: "g", Doc: map[string]any{"displayName": "G"}}); err != nil {
		t.Fatal(err)
	}
	errs = make(chan error, n)
	for i, id := range created {
		wg.Go(func() {
			_, err := replicas[i%2].Update(ctx, store.Group, "g", func(*store.Resource) (map[string]any, []store.MemberOp, error) {
				return nil, []store.MemberOp{{Kind: store.MemberAdd, Members: []store.Member{{Value: id}}}}, nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("member add: %v", err)
		}
	}
	g, err := replicas[1].Get(ctx, store.Group, "g", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Members) != n || g.Version != n+1 {
		t.Fatalf("group has %d members at version %d, want %d at %d", len(g.Members), g.Version, n, n+1)
	}

	// If-Match: both replicas update the same version; one gets 412.
	results := make(chan error, 2)
	for r, s := range replicas {
		wg.Go(func() {
			_, err := s.Update(ctx, store.User, created[0], func(cur *store.Resource) (map[string]any, []store.MemberOp, error) {
				if cur.Version != 1 {
					return nil, nil, scimerr.New(http.StatusPreconditionFailed, "", "version mismatch")
				}
				// A new document, as the server's PATCH builds: the event
				// diffs it against cur.Doc.
				return map[string]any{"userName": cur.Doc["userName"], "title": fmt.Sprint("by replica ", r)}, nil, nil
			})
			results <- err
		})
	}
	wg.Wait()
	close(results)
	var ok, failed int
	for err := range results {
		switch {
		case err == nil:
			ok++
		case isStatus(err, http.StatusPreconditionFailed):
			failed++
		default:
			t.Fatalf("conditional update: %v", err)
		}
	}
	if ok != 1 || failed != 1 {
		t.Fatalf("conditional updates: %d succeeded, %d got 412; want 1 and 1", ok, failed)
	}

	// The log, read from either replica: gap-free, every member add once.
	evs, next, err := replicas[1].ReadEvents(ctx, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	adds := 0
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: the log has a gap", i, e.Seq)
		}
		if e.Type == eventlog.GroupMemberAdded {
			adds++
		}
	}
	if want := n + 1 + n + 1; len(evs) != want || next != int64(want) || adds != n {
		t.Fatalf("%d events (next %d, %d member adds), want %d (%d adds)", len(evs), next, adds, want, n)
	}
}

// TestWaitWokenByOtherReplica: a commit on one replica wakes WaitEvents on
// another (LISTEN/NOTIFY), not only on itself.
func TestWaitWokenByOtherReplica(t *testing.T) {
	url, schema := pgtest.Schema(t)
	a, b := openAt(t, url, schema), openAt(t, url, schema)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- b.WaitEvents(ctx, 0) }()
	for b.EventWaiters() == 0 {
		runtime.Gosched()
	}
	if err := a.Create(ctx, user("u", "u")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSchemasIsolateTenants: two tenants in one database share nothing.
func TestSchemasIsolateTenants(t *testing.T) {
	url, s1 := pgtest.Schema(t)
	_, s2 := pgtest.Schema(t)
	a, b := openAt(t, url, s1), openAt(t, url, s2)
	ctx := context.Background()
	for _, s := range []*Store{a, b} {
		if err := s.Create(ctx, user("same-id", "same@contoso.com")); err != nil {
			t.Fatalf("%s: %v", s.Schema(), err)
		}
	}
	if err := a.Delete(ctx, store.User, "same-id"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, store.User, "same-id", false); err != nil {
		t.Fatalf("a delete in %s reached %s: %v", s1, s2, err)
	}
	if h, _ := b.EventHead(ctx); h != 1 {
		t.Fatalf("%s has %d events, want its own 1", s2, h)
	}
}

// TestConcurrentOpen: replicas starting at once migrate the schema once
// (the advisory lock), and all open.
func TestConcurrentOpen(t *testing.T) {
	url, schema := pgtest.Schema(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(context.Background(), url, WithSchema(schema))
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, url, schema)
	var v int
	if err := s.pool.QueryRow(context.Background(), `SELECT version FROM schema_version`).Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("schema version %d (%v), want %d", v, err, len(migrations))
	}
}

func TestValidSchema(t *testing.T) {
	for _, tc := range []struct {
		schema string
		ok     bool
	}{
		{"scim_team_a_entra", true}, {"_x", true}, {"public", true},
		{"", false}, {"1abc", false}, {"Upper", false}, {"a-b", false}, {`a"; DROP TABLE x; --`, false},
		{strings.Repeat("a", 63), true}, {strings.Repeat("a", 64), false},
	} {
		if err := ValidSchema(tc.schema); (err == nil) != tc.ok {
			t.Errorf("ValidSchema(%q) = %v, want ok=%v", tc.schema, err, tc.ok)
		}
	}
}

// TestErrorsHideTheURL: the URL's password never reaches an error (which
// the server would log).
func TestErrorsHideTheURL(t *testing.T) {
	for _, url := range []string{
		"postgres://scim:s3cret-pw@127.0.0.1:1/db?connect_timeout=2", // nothing listens on port 1
		"postgres://scim:s3cret-pw@[::1/db",                          // does not parse
		"postgres://scim:s3cret-pw@127.0.0.1:1/db?sslmode=bogus",
	} {
		_, err := Open(context.Background(), url)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", url)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	_, err := Open(context.Background(), "postgres://scim:s3cret-pw@127.0.0.1:1/db?connect_timeout=2")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("refused connection: %v, want store.ErrUnavailable", err)
	}
}

func isStatus(err error, status int) bool {
	e, ok := scimerr.As(err)
	return ok && e.Status == status
}

// TestDeliveryStatusMigration: a schema at version 1 (before the status
// column) with a delivery row upgrades on open; the row keeps its cursor
// and lease, has no status (standby replicas report standby until the
// holder stores one), and the holder can store one.
func TestDeliveryStatusMigration(t *testing.T) {
	url, schema := pgtest.Schema(t)
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = saved[:1]
	old := openAt(t, url, schema)
	storetest.WriteDeliveryBeforeUpgrade(t, old)
	old.Close()

	migrations = saved
	s := openAt(t, url, schema)
	storetest.CheckDeliveryAfterUpgrade(t, s)
}
