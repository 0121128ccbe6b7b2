// Package pgtest gives tests a real PostgreSQL server: the one named by
// SCIM_TEST_POSTGRES_URL (.ci/run starts one with
// hack/postgres/test-server.sh). Without it a test skips, saying how to
// run it, except in CI (CI=true), where skipping would hide the backend
// from the build, so it fails.
package pgtest

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

// Server is a private PostgreSQL server for one test, which the test may
// crash (Down) and bring back (Up): outage tests must not take down the
// server every other test shares.
type Server struct {
	URL string
	dir string
	t   testing.TB
}

// script is hack/postgres/test-server.sh, found from this file's path.
func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "hack", "postgres", "test-server.sh")
}

// StartServer starts a private server (hack/postgres/test-server.sh),
// stopped and removed when the test ends. It needs the same setup as URL
// (the PostgreSQL server binaries installed), so it skips, or fails in CI,
// under the same rule.
func StartServer(t testing.TB) *Server {
	t.Helper()
	URL(t)
	out, err := exec.Command(script(), "start").Output()
	if err != nil {
		t.Fatalf("pgtest: start a private PostgreSQL server: %v", err)
	}
	s := &Server{t: t}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "export "+EnvURL+"="); ok {
			s.URL = strings.Trim(v, "'")
		}
		if v, ok := strings.CutPrefix(line, "export SCIM_TEST_POSTGRES_DIR="); ok {
			s.dir = strings.Trim(v, "'")
		}
	}
	if s.URL == "" || s.dir == "" {
		t.Fatalf("pgtest: test-server.sh start printed %q", out)
	}
	t.Cleanup(func() { s.run("stop") })
	return s
}

// Down stops the server abruptly, as a crash would; Up starts it again.
func (s *Server) Down() { s.run("down") }

// Up starts the server again on the same port, with its data.
func (s *Server) Up() { s.run("up") }

func (s *Server) run(cmd string) {
	s.t.Helper()
	if out, err := exec.Command(script(), cmd, s.dir).CombinedOutput(); err != nil {
		s.t.Fatalf("pgtest: test-server.sh %s: %v\n%s", cmd, err, out)
	}
}

// superuser connects to the private server as its superuser, for at most
// 30 s; done closes the connection and ends the deadline.
func (s *Server) superuser(t testing.TB) (context.Context, *pgx.Conn, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		cancel()
		t.Fatalf("pgtest: connect: %v", err)
	}
	return ctx, conn, func() { conn.Close(ctx); cancel() }
}

// Exec runs one statement on the private server as its superuser.
func (s *Server) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, conn, done := s.superuser(t)
	defer done()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// PasswordRole makes the private server check passwords (scram-sha-256)
// of every role but its superuser, creates role with password and the
// right to create schemas, and returns the role's URL. The server trusts
// every connection otherwise, so a changed password would change nothing.
func (s *Server) PasswordRole(t testing.TB, role, password string) string {
	t.Helper()
	ctx, conn, done := s.superuser(t)
	defer done()
	var hba string
	if err := conn.QueryRow(ctx, `SHOW hba_file`).Scan(&hba); err != nil {
		t.Fatalf("pgtest: hba_file: %v", err)
	}
	const rules = "local all postgres trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(hba, []byte(rules), 0o600); err != nil {
		t.Fatalf("pgtest: write %s: %v", hba, err)
	}
	id := pgx.Identifier{role}.Sanitize()
	for _, sql := range []string{
		`SELECT pg_reload_conf()`,
		`CREATE ROLE ` + id + ` LOGIN PASSWORD ` + Literal(password),
		`GRANT CREATE ON DATABASE postgres TO ` + id,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("pgtest: %s: %v", sql, err)
		}
	}
	u, err := neturl.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.UserPassword(role, password)
	return u.String()
}

// Literal quotes s as an SQL string literal (for statements that take no
// parameters, such as ALTER ROLE ... PASSWORD).
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
