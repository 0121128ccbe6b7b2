package postgres

import (
	"context"
	"testing"
	"time"

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
