package postgres

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
)

// TestURLSourceFollowsRotation: the role's password changes in the
// database (ALTER ROLE, as CloudNativePG rotates it) and, later, in the
// URL file. Between the two, new connections are refused and the store
// says unavailable (503 + Retry-After above it), not a server fault; once
// the file has the new password, new connections, the change listener's
// included, use it, without reopening the store, and the data is intact.
func TestURLSourceFollowsRotation(t *testing.T) {
	db := pgtest.StartServer(t)
	oldURL := db.PasswordRole(t, "scim_rotating", "first-password")
	newURL := strings.Replace(oldURL, "first-password", "second-password", 1)
	file := filepath.Join(t.TempDir(), "uri")
	write := func(url string) {
		// As the kubelet updates a mounted Secret: a new file renamed over.
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(url+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	read := func() (string, error) {
		raw, err := os.ReadFile(file)
		return strings.TrimSpace(string(raw)), err
	}
	write(oldURL)
	ctx := context.Background()
	s, err := Open(ctx, oldURL, WithSchema("tenant_rotating"), WithURLSource(read))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Create(ctx, user("before", "before@contoso.com")); err != nil {
		t.Fatal(err)
	}

	// The password changes in the database; the server's sessions end (a
	// failover or restart would end them too).
	db.Exec(t, `ALTER ROLE scim_rotating PASSWORD `+pgtest.Literal("second-password"))
	dropSessions := func() {
		db.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'scim_rotating'`)
		s.pool.Reset() // the pool forgets the ended sessions instead of meeting them one by one
	}
	dropSessions()
	// The old password is really refused: the server checks passwords.
	if conn, err := pgx.Connect(ctx, oldURL); err == nil {
		conn.Close(ctx)
		t.Fatal("the old password still connects: the test server does not check passwords")
	} else if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("old password: %v, want SQLSTATE 28P01", err)
	}
	if err := s.Create(ctx, user("between", "between@contoso.com")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("create before the file has the new password: %v, want store.ErrUnavailable", err)
	}

	// The file catches up: the next connection reads it.
	write(newURL)
	if err := s.Create(ctx, user("after", "after@contoso.com")); err != nil {
		t.Fatalf("create after the file changed: %v", err)
	}
	for _, id := range []string{"before", "after"} {
		if _, err := s.Get(ctx, store.User, id, false); err != nil {
			t.Fatalf("user %s: %v", id, err)
		}
	}
	if _, err := s.Get(ctx, store.User, "between", false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused create: %v, want not found", err)
	}

	// The change listener reconnects with the new password too: its
	// session (LISTEN, as the rotating role) is back. Only the new
	// password can have opened it.
	admin, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	guard := time.Now().Add(time.Minute) // a hang guard: the listener retries every second
	for {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE usename = 'scim_rotating' AND query LIKE 'LISTEN %'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(guard) {
			t.Fatalf("%d listener sessions of the rotating role, want 1", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
