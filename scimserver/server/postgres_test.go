package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
	"github.com/scim-operator/scim-operator/scimserver/store/postgres"
)

// withPostgres serves from a PostgreSQL store in a fresh schema of the
// test server (pgtest), on the env's clock, instead of SQLite.
func withPostgres(t testing.TB, url, schema string) envOption {
	return func(o *Options) {
		if url == "" {
			url, schema = pgtest.Schema(t)
		}
		// As newEnv's SQLite store: every write a millisecond after the
		// previous one, so lastModified moves.
		var writes atomic.Int64
		now := func() time.Time { return o.Clock().Add(time.Duration(writes.Add(1)) * time.Millisecond) }
		st, err := postgres.Open(context.Background(), url, postgres.WithSchema(schema), postgres.WithClock(now))
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		o.Store = st
	}
}

// TestReplayPostgres replays every recorded Entra exchange against the
// PostgreSQL store: the same files, the same expectations as SQLite.
func TestReplayPostgres(t *testing.T) {
	pgtest.URL(t)
	files, err := filepath.Glob("testdata/replay/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("replay files: %v %v", files, err)
	}
	files = append(files, "testdata/cycle/entra-provisioning-cycle.json")
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			runReplay(t, f, false, withPostgres(t, "", ""))
		})
	}
}

// TestPostgresOutage: the database crashes under a serving server. SCIM
// requests answer 503 with Retry-After and a generic detail (nothing of
// PostgreSQL's error), readiness goes false; once the database is back
// the same server, not restarted, serves again with its data intact.
func TestPostgresOutage(t *testing.T) {
	db := pgtest.StartServer(t)
	e := newEnv(t, withPostgres(t, db.URL, "tenant_outage"))
	if r := e.post("/Users", user("before@contoso.com")); r.status != http.StatusCreated {
		t.Fatalf("create before the outage: %d %s", r.status, r.raw)
	}

	db.Down()
	for _, r := range []*resp{
		e.post("/Users", user("during@contoso.com")),
		e.get("/Users?filter=" + urlq(`userName eq "before@contoso.com"`)),
	} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Fatalf("during the outage: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.raw)
		}
		if body := strings.ToLower(string(r.raw)); strings.Contains(body, "postgres") || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "sqlstate") {
			t.Fatalf("the 503 leaks the database error: %s", r.raw)
		}
	}
	if r := e.get("/readyz"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the outage: %d", r.status)
	}

	db.Up()
	// The pool drops the connections the crash broke as it meets them:
	// the first requests after the restart may still see one.
	var r *resp
	for range 20 {
		if r = e.get("/readyz"); r.status == http.StatusOK {
			break
		}
	}
	if r.status != http.StatusOK {
		t.Fatalf("readyz after the database returned: %d %s", r.status, r.raw)
	}
	if r := e.post("/Users", user("after@contoso.com")); r.status != http.StatusCreated {
		t.Fatalf("create after the outage: %d %s", r.status, r.raw)
	}
	if r := e.get("/Users?filter=" + urlq(`userName eq "before@contoso.com"`)); r.status != http.StatusOK || fmt.Sprint(r.json["totalResults"]) != "1" {
		t.Fatalf("data after the outage: %d %s", r.status, r.raw)
	}
	if !errors.Is(store.Unavailable(errors.New("x")), store.ErrUnavailable) {
		t.Fatal("store.Unavailable does not wrap ErrUnavailable")
	}
}

// TestTwoReplicasOverHTTP: two servers on one PostgreSQL schema, as two
// replicas behind a Service, under Entra-shaped concurrent writes: creates
// of one userName in different case through both (one 201, the rest 409),
// member adds to one group through both (none lost), and PATCHes with the
// same If-Match through both (one 2xx, one 412).
func TestTwoReplicasOverHTTP(t *testing.T) {
	url, schema := pgtest.Schema(t)
	replicas := []*env{newEnv(t, withPostgres(t, url, schema)), newEnv(t, withPostgres(t, url, schema))}
	const n = 40

	// The same person created through both replicas at once.
	var wg sync.WaitGroup
	statuses := make(chan int, 2*n)
	for i := range n {
		for r, e := range replicas {
			wg.Go(func() {
				name := fmt.Sprintf("person%d@contoso.com", i)
				if r == 1 {
					name = strings.ToUpper(name)
				}
				statuses <- e.post("/Users", user(name)).status
			})
		}
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	if got[http.StatusCreated] != n || got[http.StatusConflict] != n {
		t.Fatalf("racing creates: %v, want %d created and %d conflicts", got, n, n)
	}

	// Every user joins one group, through either replica.
	g := replicas[0].post("/Groups", group("Everyone")).want(t, http.StatusCreated)
	gid, _ := g.json["id"].(string)
	ids := make([]string, n)
	for i := range n {
		r := replicas[i%2].get("/Users?filter="+urlq(fmt.Sprintf(`userName eq "person%d@contoso.com"`, i))).want(t, http.StatusOK)
		res, _ := r.json["Resources"].([]any)
		if len(res) != 1 {
			t.Fatalf("person%d: %s", i, r.raw)
		}
		ids[i], _ = res[0].(map[string]any)["id"].(string)
	}
	for i, id := range ids {
		wg.Go(func() {
			r := replicas[i%2].patch("/Groups/"+gid, op("add", "members", []any{map[string]any{"value": id}}))
			if r.status != http.StatusNoContent && r.status != http.StatusOK {
				t.Errorf("member add %s: %d %s", id, r.status, r.raw)
			}
		})
	}
	wg.Wait()
	members := replicas[1].get("/Groups/"+gid).want(t, http.StatusOK).json["members"].([]any)
	if len(members) != n {
		t.Fatalf("group has %d members, want %d: a member add was lost", len(members), n)
	}

	// Two admins' edits, each made on the version it read.
	etag := replicas[0].get("/Users/"+ids[0]).want(t, http.StatusOK).header.Get("ETag")
	results := make(chan int, 2)
	for r, e := range replicas {
		wg.Go(func() {
			results <- e.do(req{method: http.MethodPatch, path: "/Users/" + ids[0], header: map[string]string{"If-Match": etag},
				body: map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{op("replace", "title", fmt.Sprint("edited through replica ", r))}}}).status
		})
	}
	wg.Wait()
	close(results)
	got = map[int]int{}
	for s := range results {
		got[s]++
	}
	if got[http.StatusPreconditionFailed] != 1 || got[http.StatusOK]+got[http.StatusNoContent] != 1 {
		t.Fatalf("If-Match race: %v, want one success and one 412", got)
	}
}
