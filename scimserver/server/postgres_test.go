package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
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
