package postgres

// migrations are applied in order; migration i brings schema_version from
// i to i+1. Append only: never edit a migration that has shipped. The
// tables mirror the SQLite store's (package store, migrate.go) so that a
// SQLite tenant copies over column for column.
//
// Text columns compared or sorted on are COLLATE "C": byte order, which is
// SQLite's BINARY order and Go's string order, whatever the database's
// default collation. Documents are text, not jsonb: jsonb would reorder
// keys and respace the JSON that List's text pre-filter (store.Text) reads.
var migrations = []string{
	// 1: resources, members, totals, the change log and webhook delivery state.
	`
CREATE TABLE resources (
	rid                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- creation order, compact member rows
	kind                text COLLATE "C" NOT NULL,
	id                  text COLLATE "C" NOT NULL,
	doc                 text   NOT NULL,          -- JSON document
	created             bigint NOT NULL,          -- Unix nanoseconds, UTC
	last_modified       bigint NOT NULL,
	version             bigint NOT NULL,
	user_name_folded    text COLLATE "C",         -- users: store.Fold(userName)
	external_id         text COLLATE "C",         -- exact; not unique
	display_name        text,                     -- as sent
	display_name_folded text COLLATE "C"          -- store.Fold(displayName)
);
CREATE UNIQUE INDEX resources_id ON resources (kind, id);
CREATE INDEX resources_kind ON resources (kind, rid);
CREATE UNIQUE INDEX resources_user_name ON resources (kind, user_name_folded);
CREATE INDEX resources_external_id ON resources (kind, external_id);
CREATE INDEX resources_display_name ON resources (kind, display_name_folded);
CREATE UNIQUE INDEX resources_group_name ON resources (display_name_folded) WHERE kind = 'Group';

CREATE TABLE members (
	group_rid  bigint NOT NULL REFERENCES resources (rid) ON DELETE CASCADE,
	member_rid bigint NOT NULL REFERENCES resources (rid) ON DELETE CASCADE,
	PRIMARY KEY (group_rid, member_rid)
);
CREATE INDEX members_member ON members (member_rid, group_rid);

-- Totals per kind, kept by the writing transaction at its end, next to
-- the change log's head (a trigger would lock the row from the INSERT on,
-- and hold every other create of the tenant for the whole transaction).
CREATE TABLE counts (kind text COLLATE "C" PRIMARY KEY, n bigint NOT NULL);
INSERT INTO counts VALUES ('User', 0), ('Group', 0);

-- The change log. seq is given from event_head, a row every writing
-- transaction updates: its lock orders commits, so seq is gap-free and in
-- commit order (a sequence would leave gaps on rollback, and hand out
-- numbers out of commit order across replicas).
CREATE TABLE events (
	seq         bigint PRIMARY KEY,
	id          text   NOT NULL,     -- UUID
	type        text   NOT NULL,
	time        bigint NOT NULL,     -- Unix nanoseconds, UTC
	kind        text   NOT NULL,
	resource_id text   NOT NULL,
	data        text   NOT NULL      -- JSON: resource document, changes, member
);
CREATE TABLE event_head (one int PRIMARY KEY CHECK (one = 1), seq bigint NOT NULL);
INSERT INTO event_head VALUES (1, 0);

-- One row per webhook: the last acknowledged cursor, and a lease so that of
-- several server replicas exactly one delivers a webhook at a time.
CREATE TABLE deliveries (
	webhook     text COLLATE "C" PRIMARY KEY,
	acked       bigint NOT NULL,
	owner       text,
	lease_until bigint,              -- Unix nanoseconds
	updated     bigint NOT NULL
);
`,
	// 2: the lease holder's delivery status (state, times, last error) as
	// JSON text, so that every replica's GET /v1/webhooks reports what the
	// replica delivering the webhook sees. NULL until a holder wrote one.
	`
ALTER TABLE deliveries ADD COLUMN status text;
`,
}
