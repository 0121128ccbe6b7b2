package store_test

import (
	"path/filepath"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/storetest"
)

// TestDeliveryStatusMigration: a database at version 5 (before the status
// column) with a delivery row upgrades on open (migration 6); the row
// keeps its cursor, has no status, and its holder can store one.
func TestDeliveryStatusMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scim.db")
	restore := store.UseMigrations(5)
	t.Cleanup(restore)
	old, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.WriteDeliveryBeforeUpgrade(t, old)
	old.Close()

	restore()
	s, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckDeliveryAfterUpgrade(t, s)
}
