package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx": the raw PostgreSQL rows

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
)

// rawStore is a server's database read past the store, as a backup or
// anyone with the database would see it.
type rawStore struct {
	db     *sql.DB
	prefix string // the tables' schema, "" for SQLite
	file   string // the SQLite file, "" for PostgreSQL
}

// passwordBackends are the stores a password must never reach: a fresh
// server on each, with a raw connection to its database.
var passwordBackends = []struct {
	name  string
	start func(t *testing.T) (*env, *rawStore)
}{
	{"sqlite", func(t *testing.T) (*env, *rawStore) {
		e := newEnv(t)
		db, err := sql.Open("sqlite", "file:"+e.dbPath+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return e, &rawStore{db: db, file: e.dbPath}
	}},
	{"postgres", func(t *testing.T) (*env, *rawStore) {
		pgtest.URL(t) // skips without a test server
		url, schema := pgtest.Schema(t)
		e := newEnv(t, withPostgres(t, url, schema))
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return e, &rawStore{db: db, prefix: `"` + schema + `".`}
	}},
}

// doc reads a resource's stored document.
func (s *rawStore) doc(t *testing.T, kind, id string) string {
	t.Helper()
	var doc string
	q := `SELECT doc FROM ` + s.prefix + `resources WHERE kind = $1 AND id = $2`
	if err := s.db.QueryRow(q, kind, id).Scan(&doc); err != nil {
		t.Fatalf("reading %s %s: %v", kind, id, err)
	}
	return doc
}

// events reads every column of every change-log row as text.
func (s *rawStore) events(t *testing.T) string {
	t.Helper()
	rows, err := s.db.Query(`SELECT * FROM ` + s.prefix + `events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			fmt.Fprintf(&out, "%v\t", v)
		}
		out.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// fileHolds reports whether secret is anywhere in the SQLite database's
// files (the database, its write-ahead log), free pages included.
func (s *rawStore) fileHolds(t *testing.T, secret string) bool {
	t.Helper()
	if s.file == "" {
		return false
	}
	for _, p := range []string{s.file, s.file + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			return true
		}
	}
	return false
}

// Every write shape that carries a password (Okta's and OneLogin's
// "sync password") is accepted and the password stored nowhere: not in the
// resource row, not in the change log, not in the database's files, on
// SQLite and PostgreSQL (when a test server is set); a
// password stored before passwords were discarded goes with the next write.
func TestPasswordNeverStored(t *testing.T) {
	const coreUser = "urn:ietf:params:scim:schemas:core:2.0:User"
	const secret = "S3cret-never-stored"
	for _, tc := range []struct {
		name string
		// legacy stores a password in the document as the server did
		// before, past the HTTP API.
		legacy bool
		write  func(e *env, id string) *resp
		// counted is scim_password_discarded_total after the write: a
		// PUT rebuilds the document, so a stored password is gone
		// without being discarded.
		counted float64
	}{
		{"POST", false, func(e *env, _ string) *resp {
			return e.post("/Users", user("bob@x", "password", secret))
		}, 1},
		{"POST with the core URN prefix", false, func(e *env, _ string) *resp {
			return e.post("/Users", user("bob@x", coreUser+":password", secret))
		}, 1},
		{"PUT", false, func(e *env, id string) *resp {
			return e.do(req{method: http.MethodPut, path: "/Users/" + id, body: user("alice@x", "password", secret)})
		}, 1},
		{"PATCH replace with path", false, func(e *env, id string) *resp {
			return e.patch("/Users/"+id, op("replace", "password", secret))
		}, 1},
		{"PATCH Add with path in other casing", false, func(e *env, id string) *resp {
			return e.patch("/Users/"+id, op("Add", "Password", secret))
		}, 1},
		{"PATCH pathless (Okta)", false, func(e *env, id string) *resp {
			return e.patch("/Users/"+id, op("replace", "", map[string]any{"password": secret, "active": false}))
		}, 1},
		{"PATCH pathless under the core URN", false, func(e *env, id string) *resp {
			return e.patch("/Users/"+id, op("replace", "", map[string]any{coreUser + ":password": secret}))
		}, 1},
		{"stored before, then PATCH of another attribute", true, func(e *env, id string) *resp {
			return e.patch("/Users/"+id, op("replace", "active", false))
		}, 1},
		{"stored before, then PUT without password", true, func(e *env, id string) *resp {
			return e.do(req{method: http.MethodPut, path: "/Users/" + id, body: user("alice@x", "displayName", "Alice")})
		}, 0},
	} {
		for _, be := range passwordBackends {
			t.Run(be.name+"/"+tc.name, func(t *testing.T) {
				e, raw := be.start(t)
				var id string
				if tc.legacy {
					id = "legacy-alice"
					res := &store.Resource{Kind: store.User, ID: id, Doc: map[string]any{"userName": "alice@x", "active": true, "password": secret}}
					if err := e.srv.store.Create(context.Background(), res); err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(raw.doc(t, "User", id), secret) {
						t.Fatal("the legacy password was not stored: the test proves nothing")
					}
				} else {
					id = e.post("/Users", user("alice@x")).want(t, http.StatusCreated).str(t, "/id")
				}
				r := tc.write(e, id)
				if r.status != http.StatusOK && r.status != http.StatusCreated {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				if r.status == http.StatusCreated {
					id = r.str(t, "/id")
				}
				if bytes.Contains(r.raw, []byte(secret)) || bytes.Contains(bytes.ToLower(r.raw), []byte(`"password"`)) {
					t.Fatalf("the answer carries the password: %s", r.raw)
				}
				doc := raw.doc(t, "User", id)
				var m map[string]any
				if err := json.Unmarshal([]byte(doc), &m); err != nil {
					t.Fatalf("stored doc %q: %v", doc, err)
				}
				for k := range m {
					if strings.Contains(strings.ToLower(k), "password") {
						t.Fatalf("stored doc has key %q: %s", k, doc)
					}
				}
				if strings.Contains(doc, secret) {
					t.Fatalf("stored doc holds the password: %s", doc)
				}
				if ev := raw.events(t); strings.Contains(ev, secret) {
					t.Fatalf("the change log holds the password:\n%s", ev)
				}
				if !tc.legacy && raw.fileHolds(t, secret) {
					t.Fatal("the password is in the database's files")
				}
				if got := counterValue(t, e.srv.password.counter.WithLabelValues("User")); got != tc.counted {
					t.Fatalf("scim_password_discarded_total %v, want %v", got, tc.counted)
				}
				if strings.Contains(e.logs.String(), secret) {
					t.Fatalf("the password reached the log:\n%s", e.logs.String())
				}
			})
		}
	}
}

// Discarding is counted once per successful write and logged once per
// process; a write that fails discards nothing; a write without a password
// counts nothing.
func TestPasswordDiscardedCountAndLog(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.post("/Users", user(fmt.Sprintf("u%d@x", i), "password", fmt.Sprintf("pw-%d", i))).want(t, http.StatusCreated)
	}
	e.post("/Users", user("u0@x", "password", "pw-conflict")).want(t, http.StatusConflict)
	e.post("/Users", user("plain@x")).want(t, http.StatusCreated)
	if got := counterValue(t, e.srv.password.counter.WithLabelValues("User")); got != 3 {
		t.Fatalf("scim_password_discarded_total %v, want 3", got)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "Password accepted and discarded"); n != 1 {
		t.Fatalf("%d log lines about discarded passwords, want 1:\n%s", n, logs)
	}
	if strings.Contains(logs, "pw-") {
		t.Fatalf("a password value reached the log:\n%s", logs)
	}
	if m := e.get("/metrics"); !strings.Contains(string(m.raw), `scim_password_discarded_total{resource="User"} 3`) {
		t.Fatalf("/metrics:\n%s", m.raw)
	}
}
