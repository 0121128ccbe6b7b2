package store_test

import (
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/storetest"
)

// TestConformance runs the store suite shared with the PostgreSQL backend
// (package storetest) against SQLite.
func TestConformance(t *testing.T) {
	var paths sync.Map // store.Store -> database file
	storetest.Run(t, storetest.Backend{
		Open: func(t testing.TB, now func() time.Time) store.Store {
			path := filepath.Join(t.TempDir(), "scim.db")
			var opts []store.Option
			if now != nil {
				opts = append(opts, store.WithClock(now))
			}
			s, err := store.OpenSQLite(path, opts...)
			if err != nil {
				t.Fatalf("OpenSQLite: %v", err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			paths.Store(store.Store(s), path)
			return s
		},
		Count: func(t testing.TB, s store.Store, query string) int {
			path, _ := paths.Load(s)
			db, err := sql.Open("sqlite", "file:"+path.(string)+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n int
			if err := db.QueryRow(query).Scan(&n); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			return n
		},
	})
}
