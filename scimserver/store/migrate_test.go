package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

func userVersion(t *testing.T, s *SQLite) int {
	t.Helper()
	var v int
	if err := s.w.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationsOnReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scim.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, userRes("u1", "a"), groupRes("g", "G", "u1"))
	if v := userVersion(t, s); v != len(migrations) {
		t.Errorf("user_version %d, want %d", v, len(migrations))
	}
	s.Close()

	// Reopening an up-to-date database applies nothing and keeps the data.
	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if got := memberIDs(t, s, "g"); len(got) != 1 || got[0] != "u1" {
		t.Errorf("members after reopen %v", got)
	}
	s.Close()

	// A new migration is applied once, in order, on the next open.
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(saved[:len(saved):len(saved)], `CREATE TABLE extra (x INTEGER)`)
	for range 2 {
		s, err = OpenSQLite(path)
		if err != nil {
			t.Fatalf("open with a new migration: %v", err)
		}
		if v := userVersion(t, s); v != len(migrations) {
			t.Errorf("user_version %d, want %d", v, len(migrations))
		}
		s.Close()
	}

	// A database from a newer binary is refused rather than misread.
	migrations = saved
	if _, err := OpenSQLite(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("open newer schema: %v", err)
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scim.db")
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(saved[:len(saved):len(saved)], `CREATE TABLE half (x INTEGER); SYNTAX ERROR HERE`)
	if _, err := OpenSQLite(path); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migration %d", len(migrations))) {
		t.Fatalf("broken migration: %v", err)
	}
	migrations = saved
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := userVersion(t, s); v != len(saved) {
		t.Errorf("user_version %d after failed migration, want %d", v, len(saved))
	}
	var n int
	if err := s.r.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM sqlite_schema WHERE name = 'half'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("half-applied migration left table (n=%d, %v)", n, err)
	}
}

func TestPragmas(t *testing.T) {
	s, _ := openTest(t)
	for _, db := range []struct {
		name string
		q    func(string) string
	}{{"writer", func(p string) string { return pragma(t, s.w.QueryRow, p) }}, {"reader", func(p string) string { return pragma(t, s.r.QueryRow, p) }}} {
		if got := db.q("journal_mode"); got != "wal" {
			t.Errorf("%s journal_mode %s", db.name, got)
		}
		if got := db.q("foreign_keys"); got != "1" {
			t.Errorf("%s foreign_keys %s", db.name, got)
		}
		if got := db.q("synchronous"); got != "1" { // NORMAL
			t.Errorf("%s synchronous %s", db.name, got)
		}
		if got := db.q("busy_timeout"); got != "5000" {
			t.Errorf("%s busy_timeout %s", db.name, got)
		}
		if got := db.q("mmap_size"); got != "0" {
			t.Errorf("%s mmap_size %s", db.name, got)
		}
	}
	// Readers keep a small page cache (negative: KiB); the writer keeps
	// SQLite's default.
	if got := pragma(t, s.r.QueryRow, "cache_size"); got != "-256" {
		t.Errorf("reader cache_size %s, want -256", got)
	}
	if got := pragma(t, s.w.QueryRow, "cache_size"); got != "-2000" {
		t.Errorf("writer cache_size %s, want -2000", got)
	}
	// Only the writer commits, so only it checkpoints.
	if got := pragma(t, s.w.QueryRow, "wal_autocheckpoint"); got != "4000" {
		t.Errorf("writer wal_autocheckpoint %s, want 4000", got)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Error(err)
	}
	if _, err := OpenSQLite(filepath.Join(t.TempDir(), "x.db"), WithSynchronous("SOMETIMES")); err == nil {
		t.Error("bad synchronous mode accepted")
	}
}

func pragma(t *testing.T, queryRow func(string, ...any) *sql.Row, name string) string {
	t.Helper()
	var v string
	if err := queryRow(`PRAGMA ` + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// A database created at schema 1 gains the counts table, filled from its
// existing rows, when opened by this binary.
func TestMigrationCountsFromExistingRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scim.db")
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = saved[:1]
	s, err := OpenSQLite(path, WithoutEventLog()) // schema 1 has no change log
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, userRes("u1", "a"), userRes("u2", "b"), groupRes("g", "G", "u1"))
	s.Close()

	migrations = saved
	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for k, want := range map[Kind]int{User: 2, Group: 1} {
		if p, err := s.List(context.Background(), k, Query{}); err != nil || p.Total != want {
			t.Errorf("%s total %v %v, want %d", k, p, err, want)
		}
	}
}

// A database at schema 4, with data, migrates to the partial name indexes
// of migration 5: the old entries' lookups, uniqueness (case-insensitive
// userName among users, displayName among groups) and sorted pages answer
// as before, and the dropped index is gone.
func TestMigrationPartialNameIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scim.db")
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = saved[:4]
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	named := func(r *Resource, displayName string) *Resource {
		r.Doc["displayName"] = displayName
		return r
	}
	mustCreate(t, s,
		named(userRes("u1", "Alice@Contoso.com"), "Same Name"),
		named(userRes("u2", "bob@contoso.com"), "Same Name"),
		groupRes("g2", "Zeta", "u1"), groupRes("g1", "alpha", "u2"),
		// A group and a user may share a displayName.
		groupRes("g3", "same name"))
	s.Close()

	migrations = saved
	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := userVersion(t, s); v != len(migrations) {
		t.Fatalf("user_version %d, want %d", v, len(migrations))
	}
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'resources_display_name'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("resources_display_name still there: %d %v", n, err)
	}

	lookup := func(kind Kind, attr, value string) []string {
		t.Helper()
		p, err := s.List(ctx, kind, Query{Lookup: &Lookup{Attr: attr, Value: value}, Count: 10})
		if err != nil {
			t.Fatalf("%s %s eq %q: %v", kind, attr, value, err)
		}
		var ids []string
		for _, r := range p.Resources {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		kind        Kind
		attr, value string
		want        string
	}{
		{User, "userName", "alice@contoso.COM", "u1"},
		{User, "displayName", "same NAME", "u1 u2"},
		{Group, "displayName", "SAME name", "g3"},
		{Group, "displayName", "ALPHA", "g1"},
		{Group, "userName", "alice@contoso.com", ""},
		{User, "displayName", "zeta", ""},
	} {
		if got := strings.Join(lookup(tc.kind, tc.attr, tc.value), " "); got != tc.want {
			t.Errorf("%s %s eq %q = %q, want %q", tc.kind, tc.attr, tc.value, got, tc.want)
		}
	}

	for _, tc := range []struct {
		name string
		r    *Resource
	}{
		{"userName of a migrated user, other case", userRes("u3", "ALICE@contoso.com")},
		{"displayName of a migrated group, other case", groupRes("g4", "ZETA")},
	} {
		err := s.Create(ctx, tc.r)
		if e, ok := scimerr.As(err); !ok || e.Status != http.StatusConflict {
			t.Errorf("%s: %v, want 409", tc.name, err)
		}
	}
	// Not unique: a user's displayName, and a group's name equal to a user's userName.
	mustCreate(t, s, named(userRes("u4", "carol@contoso.com"), "same name"), groupRes("g5", "bob@contoso.com"))

	p, err := s.List(ctx, Group, Query{Order: &Order{Column: "displayName", Desc: true}, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range p.Resources {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, " "); got != "g2 g3 g5 g1" || p.Total != 4 {
		t.Errorf("groups by displayName descending %q (total %d), want g2 g3 g5 g1 of 4", got, p.Total)
	}
}
