package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store/groupcommit"

	_ "modernc.org/sqlite" // pure Go driver "sqlite": keeps the image static
)

// SQLite is the embedded Store: one SQLite file in WAL mode. All writes go
// through a single connection (SQLite allows one writer at a time anyway, and
// queueing in Go is cheaper than retrying on SQLITE_BUSY); reads use a pool
// and see committed snapshots concurrently with the writer.
type SQLite struct {
	w     *sql.DB // exactly one connection; every write transaction
	r     *sql.DB // read pool, query_only
	now   func() time.Time
	stmts stmts
	// scans bounds the List calls that read every resource of a kind (no
	// index applies), so they never hold every read connection and starve
	// the indexed lookups Entra's sync depends on.
	scans chan struct{}
	// noEvents switches the change log off (WithoutEventLog); events
	// wakes WaitEvents after each commit that appended events.
	noEvents bool
	events   broadcast
	// Group commit (groupcommit.go): writes.Submit runs a write in a
	// savepoint of a shared write transaction (runBatch) and returns once
	// that transaction committed (nil) or the write was undone (its
	// error, or the commit's). A write cancelled before it runs is not
	// run; once running it completes, since its batch shares the
	// transaction.
	writes  *groupcommit.Queue[writeFunc]
	txStmts txStmts // the batch transaction's statements; commit loop only
}

var _ Store = (*SQLite)(nil)

type options struct {
	now         func() time.Time
	readConns   int
	scanLimit   int
	synchronous string
	busyTimeout time.Duration
	noEvents    bool
}

// Option configures OpenSQLite.
type Option func(*options)

// WithClock sets the clock used for created and lastModified (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithReadConns sets the size of the read connection pool.
func WithReadConns(n int) Option { return func(o *options) { o.readConns = n } }

// WithScanLimit sets how many full scans (filters or sorts no index
// answers) run at once; more wait for a slot until their context ends.
// Default: half the CPUs (and of the read connections), at least 1, so
// scans leave CPU to the indexed requests; measured in docs/benchmarks.md.
func WithScanLimit(n int) Option { return func(o *options) { o.scanLimit = n } }

// WithSynchronous sets PRAGMA synchronous (default NORMAL). In WAL mode
// NORMAL survives a process crash (kill -9) but a power loss or kernel panic
// may roll back the last transactions; FULL fsyncs the WAL on every commit
// and survives those too, at the price of one fsync per write.
func WithSynchronous(mode string) Option { return func(o *options) { o.synchronous = mode } }

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process (e.g. a backup tool) before failing.
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// OpenSQLite opens (creating if needed) the database at path and migrates it
// to the current schema.
func OpenSQLite(path string, opts ...Option) (*SQLite, error) {
	o := options{
		now:         time.Now,
		readConns:   max(4, runtime.GOMAXPROCS(0)),
		synchronous: "NORMAL",
		busyTimeout: 5 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.scanLimit < 1 {
		o.scanLimit = max(1, min(o.readConns, runtime.GOMAXPROCS(0))/2)
	}
	switch o.synchronous {
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("store: invalid synchronous mode %q", o.synchronous)
	}

	w, err := sql.Open("sqlite", dsn(path, o, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	ctx := context.Background()
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	var mode string
	if err := w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		w.Close()
		return nil, fmt.Errorf("store: %s: journal_mode is %q, want wal (%v)", path, mode, err)
	}

	r, err := sql.Open("sqlite", dsn(path, o, true))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(o.readConns)
	r.SetMaxIdleConns(o.readConns)
	r.SetConnMaxLifetime(0)
	// A read connection idle this long is closed, and its page cache,
	// schema and prepared statements are freed: a tenant between Entra's
	// sync cycles (40 minutes apart) holds none of them. Reopening one
	// costs about a millisecond; database/sql prepares the statements
	// again on first use.
	r.SetConnMaxIdleTime(readIdleTime)

	s := &SQLite{w: w, r: r, now: o.now, scans: make(chan struct{}, o.scanLimit), noEvents: o.noEvents,
		writes: groupcommit.New[writeFunc](errClosed)}
	go s.writes.Run(maxBatch, s.runBatch)
	if err := s.stmts.prepare(ctx, w, r, !o.noEvents); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Read pool memory (see dsn and OpenSQLite).
const (
	readCacheKiB = 256
	readIdleTime = 30 * time.Second
)

// dsn builds the modernc.org/sqlite connection string. Pragmas in the DSN
// run on every new connection, so pooled connections are all configured.
func dsn(path string, o options, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+o.synchronous+")")
	// No mmap: mapped database pages count towards the process's resident
	// memory, once per connection that touched them (measured: 551 MB of a
	// 567 MB peak at 100k users, 5 connections). pread through the OS page
	// cache costs no measurable throughput (docs/benchmarks.md).
	q.Add("_pragma", "mmap_size(0)")
	if readOnly {
		// A small page cache per read connection: reads are index lookups
		// spread over the whole file, which no cache of a few MB holds, so
		// they read through the OS page cache (pread) either way. SQLite's
		// default (2 MB each) was 8 of the 30 MB of anonymous memory a
		// tenant server with 100k users kept; at 256 KiB the CPU per
		// lookup did not move (docs/benchmarks.md, issue #13).
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", readCacheKiB))
		q.Add("_pragma", "query_only(1)")
	} else {
		// Take the write lock at BEGIN so a transaction never fails
		// half-way with SQLITE_BUSY when another process holds it.
		q.Set("_txlock", "immediate")
		// Checkpoint every 4000 WAL frames (16 MB), not SQLite's 1000:
		// a checkpoint copies each distinct page once and fsyncs twice,
		// so fewer of them write the hot pages (the events tail, index
		// pages that renames cluster on) fewer times. It was 12 % of a
		// PATCH's CPU at 1000 frames (docs/benchmarks.md). Durability is
		// unchanged: a commit is acknowledged once in the WAL either way.
		q.Add("_pragma", "wal_autocheckpoint(4000)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Ping checks both the write connection and the read pool.
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return err
	}
	var one int
	return s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// Close closes the store. Closing the last connection checkpoints the WAL.
func (s *SQLite) Close() error {
	s.writes.Close() // writes waiting to be taken get errClosed
	s.stmts.close()
	return errors.Join(s.r.Close(), s.w.Close())
}
