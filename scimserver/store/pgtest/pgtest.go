// Package pgtest gives tests a real PostgreSQL server: the one named by
// SCIM_TEST_POSTGRES_URL (.ci/run starts one with
// hack/postgres/test-server.sh). Without it a test skips, saying how to
// run it, except in CI (CI=true), where skipping would hide the backend
// from the build, so it fails.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the test server's URL.
const EnvURL = "SCIM_TEST_POSTGRES_URL"

// How names the way to get a server, for skip and failure messages.
const How = `start one with: eval "$(hack/postgres/test-server.sh start)" (or set ` + EnvURL +
	` to postgres://user@host:port/db?sslmode=disable of a server the tests may create schemas in)`

// URL returns the test server's URL, or skips (fails in CI) without one.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u != "" {
		return u
	}
	if strings.EqualFold(os.Getenv("CI"), "true") {
		t.Fatalf("%s is not set but CI=true: the PostgreSQL tests must run in CI; %s", EnvURL, How)
	}
	t.Skipf("PostgreSQL tests skipped: %s is not set; %s", EnvURL, How)
	return ""
}

var seq atomic.Int64

// Schema returns the URL and a fresh schema name for one test; the schema
// is dropped when the test ends, so tests (and packages run in parallel)
// never see each other's rows.
func Schema(t testing.TB) (url, schema string) {
	t.Helper()
	url = URL(t)
	schema = fmt.Sprintf("t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}
