// Package postgres is the PostgreSQL Store: several server replicas of a
// tenant share one database, each tenant in its own schema. It has the
// SQLite store's semantics in everything the HTTP layer observes: indexed
// values, folding (store.Fold, computed in Go, stored in a column: the
// database's collation never decides equality), sort and paging order,
// versions, member rows, cascades and the change log, whose events it
// builds with package store's own helpers.
//
// Differences from SQLite, by design:
//   - Uniqueness is enforced by the database across replicas: two replicas
//     creating the same userName at once get one 201 and one 409.
//   - Writes to one tenant are serialised by the change log's head row
//     (a gap-free seq needs it) rather than by one connection.
//   - WaitEvents is woken by LISTEN/NOTIFY, so a commit on any replica
//     wakes the waiters of all of them.
//   - Connection failures are store.ErrUnavailable (503 + Retry-After); the
//     pool reconnects by itself when the database returns.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/groupcommit"
)

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	now    func() time.Time
	events store.Wakeup
	stop   context.CancelFunc
	done   chan struct{}
	urls   *urlSource // nil: the URL Open was given, for good

	// Group commit (commit.go): writes.Submit runs a write in a savepoint
	// of a shared transaction (runBatch) and returns once that
	// transaction committed (nil) or the write was undone (its error, or
	// the transaction's). A write cancelled before it runs is not run;
	// once running it completes, since its batch shares the transaction.
	// The queue takes the writes waiting when a batch can start, after
	// one yield of the processor as for SQLite.
	writes *groupcommit.Queue[writeFunc]
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.RawReader = (*Store)(nil)
)

type options struct {
	schema string
	now    func() time.Time
	url    func() (string, error)
}

// Option configures Open.
type Option func(*options)

// WithSchema sets the tenant's schema (default "public"); it is created if
// missing. Tenants sharing a database never see each other's rows.
func WithSchema(s string) Option { return func(o *options) { o.schema = s } }

// WithURLSource has the store ask source for the database URL again before
// every new connection (the pool's and the change listener's) and connect
// as it says: when credentials rotate (CloudNativePG changes the password
// in the <cluster>-app Secret, the kubelet updates the mounted file), new
// connections use the new ones without a restart, while open connections
// keep working. Host, port, database, user, password and TLS follow the
// source; pool size and timeouts stay those of the URL given to Open. A
// source that fails, or a URL that does not parse, leaves the last good
// one in use.
func WithURLSource(source func() (string, error)) Option {
	return func(o *options) { o.url = source }
}

// WithClock sets the clock used for created and lastModified (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// schemaName is what a schema name may be: a plain lower-case identifier,
// so it never needs quoting anywhere (search_path, NOTIFY payloads, logs).
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidSchema reports why s cannot name a tenant's schema, or nil.
func ValidSchema(s string) error {
	if !schemaName.MatchString(s) {
		return fmt.Errorf("schema %q: want 1-63 characters of a-z, 0-9 and _, not starting with a digit", s)
	}
	return nil
}

// Open connects to the database at url (a postgres:// URL or DSN; TLS as
// its sslmode says; pool size and timeouts through pgxpool's URL
// parameters pool_max_conns, pool_max_conn_lifetime, connect_timeout) and
// migrates the schema. The URL is never logged or returned in an error.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{schema: "public", now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := ValidSchema(o.schema); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, errors.New("postgres: the database URL does not parse (expected postgres://user:password@host:port/db?sslmode=...)")
	}
	// Every connection works in the tenant's schema only.
	cfg.ConnConfig.RuntimeParams["search_path"] = o.schema
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	var urls *urlSource
	if o.url != nil {
		urls = &urlSource{read: o.url, last: url}
		cfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
			urls.apply(cc)
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", classify(err))
	}
	s := &Store{pool: pool, schema: o.schema, now: o.now, done: make(chan struct{}), urls: urls,
		writes: groupcommit.New[writeFunc](errClosed)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.listen(lctx)
	go s.writes.Run(maxBatch, s.runBatch)
	return s, nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return classify(err)
	}
	return nil
}

// Close stops the listener and the commit loop (a batch running finishes
// first; later writes fail) and closes the pool.
func (s *Store) Close() error {
	s.writes.Close()
	s.stop()
	<-s.done
	s.pool.Close()
	return nil
}

// Schema is the tenant's schema.
func (s *Store) Schema() string { return s.schema }

// lockKey is the advisory lock of one schema's migrations.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("scim-operator/migrate/" + schema))
	return int64(h.Sum64())
}

// migrate brings the schema to the latest version. Replicas starting at
// once queue on an advisory lock held on one connection, so each migration
// runs once; each runs in its own transaction with the version bump, so a
// crash mid-way leaves a consistent, resumable state.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", classify(err))
	}
	defer conn.Release()
	key := lockKey(s.schema)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", classify(err))
	}
	defer func() {
		// A failed unlock (connection gone) releases the lock anyway.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	}()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.schema); err != nil {
		return fmt.Errorf("postgres: create schema %s: %w", s.schema, classify(err))
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (one int PRIMARY KEY CHECK (one = 1), version int NOT NULL);
		INSERT INTO schema_version VALUES (1, 0) ON CONFLICT DO NOTHING`); err != nil {
		return fmt.Errorf("postgres: schema %s: %w", s.schema, classify(err))
	}
	for {
		var v int
		if err := conn.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
			return fmt.Errorf("postgres: read schema version: %w", classify(err))
		}
		if v > len(migrations) {
			return fmt.Errorf("postgres: schema %s is at version %d, newer than this binary (%d)", s.schema, v, len(migrations))
		}
		if v == len(migrations) {
			return nil
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, v+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %d: %w", v+1, classify(err))
		}
	}
}

// classify marks the errors of an unreachable database (refused or broken
// connections, a server shutting down or starting, too many connections)
// as store.ErrUnavailable; others pass as they are.
func classify(err error) error {
	if _, ok := scimerr.As(err); ok || err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case len(pe.Code) == 5 && pe.Code[:2] == "08", // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, crash, starting
			pe.Code == "53300", // too many connections
			pe.Code == "25006", // read-only transaction: a standby after failover
			// Refused credentials: rotated in the database before the
			// URL file caught up; new connections read it again.
			pe.Code == "28P01", pe.Code == "28000":
			return store.Unavailable(err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, pgx.ErrTxClosed) || errors.Is(err, net.ErrClosed) || isClosedConn(err) {
		return store.Unavailable(err)
	}
	return err
}

// isClosedConn recognises pgx's errors for a connection that died under a
// query (the server was killed or restarted).
func isClosedConn(err error) bool {
	msg := err.Error()
	for _, s := range []string{"conn closed", "unexpected EOF", "connection reset", "broken pipe", "failed to deallocate cached statement"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
