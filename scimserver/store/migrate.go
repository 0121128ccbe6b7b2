package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; migration i brings PRAGMA user_version
// from i to i+1. Append only: never edit a migration that has shipped.
var migrations = []string{
	// 1: resources and members.
	`
CREATE TABLE resources (
	rid                 INTEGER PRIMARY KEY,  -- surrogate key: creation order, compact member rows
	kind                TEXT    NOT NULL,
	id                  TEXT    NOT NULL,
	doc                 TEXT    NOT NULL,     -- JSON document
	created             INTEGER NOT NULL,     -- Unix nanoseconds, UTC
	last_modified       INTEGER NOT NULL,
	version             INTEGER NOT NULL,
	user_name_folded    TEXT,                 -- users: unicode-folded userName
	external_id         TEXT,                 -- exact; not unique (Entra maps mailNickname to it)
	display_name        TEXT,                 -- as sent; member display and GroupRef
	display_name_folded TEXT                  -- unicode-folded displayName
);
CREATE UNIQUE INDEX resources_id ON resources (kind, id);
-- (kind) entries end in rid: lists in creation order without a sort.
CREATE INDEX resources_kind ON resources (kind);
CREATE UNIQUE INDEX resources_user_name ON resources (kind, user_name_folded);
CREATE INDEX resources_external_id ON resources (kind, external_id);
CREATE INDEX resources_display_name ON resources (kind, display_name_folded);
-- Group displayName is unique; user displayName is not.
CREATE UNIQUE INDEX resources_group_name ON resources (display_name_folded) WHERE kind = 'Group';

CREATE TABLE members (
	group_rid  INTEGER NOT NULL REFERENCES resources (rid) ON DELETE CASCADE,
	member_rid INTEGER NOT NULL REFERENCES resources (rid) ON DELETE CASCADE,
	PRIMARY KEY (group_rid, member_rid)
) WITHOUT ROWID;
CREATE INDEX members_member ON members (member_rid, group_rid);
`,
	// 2: totals per kind, kept by triggers in the writing transaction:
	// COUNT(*) over 100,000 users costs milliseconds on every list page.
	`
CREATE TABLE counts (kind TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO counts (kind, n) SELECT kind, COUNT(*) FROM resources GROUP BY kind;
CREATE TRIGGER resources_counted AFTER INSERT ON resources BEGIN
	INSERT INTO counts (kind, n) VALUES (NEW.kind, 1) ON CONFLICT (kind) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER resources_uncounted AFTER DELETE ON resources BEGIN
	UPDATE counts SET n = n - 1 WHERE kind = OLD.kind;
END;
`,
	// 3: the change log (package eventlog) and webhook delivery state.
	// AUTOINCREMENT: a cursor is never reused, even after pruning empties
	// the table.
	`
CREATE TABLE events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT    NOT NULL,     -- UUID
	type        TEXT    NOT NULL,
	time        INTEGER NOT NULL,     -- Unix nanoseconds, UTC
	kind        TEXT    NOT NULL,     -- User or Group
	resource_id TEXT    NOT NULL,
	data        TEXT    NOT NULL      -- JSON: resource document, changes, member
);
CREATE INDEX events_time ON events (time);

-- One row per webhook: the last acknowledged cursor, and a lease so that of
-- several server replicas exactly one delivers a webhook at a time.
CREATE TABLE deliveries (
	webhook     TEXT    PRIMARY KEY,
	acked       INTEGER NOT NULL,     -- last seq the receiver acknowledged
	owner       TEXT,                 -- replica holding the lease
	lease_until INTEGER,              -- Unix nanoseconds
	updated     INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 4: the change log without AUTOINCREMENT and without the time index.
	// Each cost two extra pages in every write's commit (sqlite_sequence
	// and the index leaf): 27 µs of CPU per create instead of 8 µs
	// (docs/benchmarks.md). A cursor is still never reused: seq is the
	// rowid, max+1, and pruning always keeps the newest event; pruning
	// finds its cut by binary search over seq (the log is gap-free).
	`
CREATE TABLE events_v4 (
	seq         INTEGER PRIMARY KEY,  -- rowid: max(seq)+1; the newest event is never pruned
	id          TEXT    NOT NULL,     -- UUID
	type        TEXT    NOT NULL,
	time        INTEGER NOT NULL,     -- Unix nanoseconds, UTC
	kind        TEXT    NOT NULL,     -- User or Group
	resource_id TEXT    NOT NULL,
	data        TEXT    NOT NULL      -- JSON: resource document, changes, member
);
INSERT INTO events_v4 SELECT seq, id, type, time, kind, resource_id, data FROM events ORDER BY seq;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
`,
	// 5: fewer index entries per write. Every index a row is in costs a
	// POST a leaf page (read, rewritten, one more WAL frame in the commit).
	// - (kind, display_name_folded) is gone. For groups it duplicated
	//   resources_group_name, which answers their displayName lookups and
	//   sorted pages (the queries name the kind literally, so SQLite can
	//   use the partial index). A user's displayName is neither unique nor
	//   a lookup Entra makes (it matches users on userName, externalId or
	//   emails), and users are never sorted on it in SQL (server/sort.go
	//   sorts in Go); a users' displayName eq filter still answers the
	//   same, from a scan of the users instead of an index.
	// - userName uniqueness is an index over users alone, keyed by the
	//   folded name without the kind: groups (no userName) add no entry.
	`
DROP INDEX resources_display_name;
DROP INDEX resources_user_name;
CREATE UNIQUE INDEX resources_user_name ON resources (user_name_folded) WHERE kind = 'User';
`,
	// 6: the lease holder's delivery status (state, times, last error) as
	// JSON, so that every replica's GET /v1/webhooks reports what the
	// replica delivering the webhook sees, not its own standby. NULL until
	// a holder wrote one.
	`
ALTER TABLE deliveries ADD COLUMN status TEXT;
`,
}

// migrate brings the database to the latest schema, one transaction per
// migration, so a crash mid-way leaves a consistent, resumable state.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		var v int
		if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("store: database schema version %d is newer than this binary (%d)", v, len(migrations))
		}
		if v == len(migrations) {
			return nil
		}
		if err := applyMigration(ctx, db, v); err != nil {
			return err
		}
	}
}

func applyMigration(ctx context.Context, db *sql.DB, v int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Re-read under the write lock: another process may have migrated since.
	var cur int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&cur); err != nil {
		return err
	}
	if cur != v {
		return nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return fmt.Errorf("store: migration %d: %w", v+1, err)
	}
	// user_version lives in the database header and commits with the tx.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
		return fmt.Errorf("store: migration %d: %w", v+1, err)
	}
	return tx.Commit()
}
